#!/bin/sh
# Removes what the tests made on the Docker engine: containers of local-run's test users
# (paasta_local_run_paasta-test-*), named paasta-test-*, or job runs of test services
# (paasta-<scheduled|rerun|emergency|record>-test_*), and images named paasta-test/* or
# paasta-local-run-*-paasta-test-*, the untagged leftovers of fixture image imports, and
# networks named paasta-test-*; containers and images of dsdt-run's test transforms
# (disdat-paasta-test-*, also under a test registry's address); wr-cloud's test deployments on
# the docker provider (servers and networks named wr-dev-paasta-test-* or wr-prod-paasta-test-*).
# Touches nothing else. Quiet when there is nothing, or no engine.
set -u
docker info >/dev/null 2>&1 || exit 0
containers=$(docker ps -aq --filter 'name=paasta_local_run_paasta-test-'; docker ps -aq --filter 'name=^/paasta-test-'; docker ps -aq --filter 'name=^/paasta-(scheduled|rerun|emergency|record)-test_'; docker ps -aq --filter 'name=^/disdat-paasta-test-'; docker ps -aq --filter 'name=^/wr-(dev|prod)-paasta-test-')
[ -z "$containers" ] || docker rm -f $containers >/dev/null
images=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(paasta-test/|paasta-local-run-.*-paasta-test-|([^/]+/)?disdat-paasta-test-)' || true)
[ -z "$images" ] || docker rmi -f $images >/dev/null
# A re-import under a tag that existed leaves the previous image untagged (<none>).
dangling=$(docker images -q --filter dangling=true --filter label=org.paasta-toolkit.fixture)
[ -z "$dangling" ] || docker rmi -f $dangling >/dev/null 2>&1 || true
networks=$(docker network ls -q --filter 'name=^paasta-test-'; docker network ls -q --filter 'name=^wr-(dev|prod)-paasta-test-')
[ -z "$networks" ] || docker network rm $networks >/dev/null 2>&1 || true
exit 0
