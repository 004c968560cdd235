//! The OpenStack provider, over the REST APIs: Keystone v3 (password auth from the `OS_*`
//! variables an rc file sets, the service catalog, a new token before the old one expires or
//! when one is refused), Nova 2.1 (flavors, keypairs, limits, servers), Glance v2 (images) and
//! Neutron v2.0 (network, subnet, router, security group, ports, floating IPs).
//!
//! Floating IPs are allocated per head node with the deployment's prefix as their description
//! and released with the server and at teardown (wr never releases them).

use crate::cloud::{Flavor, Limit, Quota};
use crate::provider::{
    Image, Instance, NetworkPlan, Provider, ProviderError, Removed, Resources, Result, SpawnSpec,
};
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `OS_*` variables, read once.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub auth_url: String,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: String,
    pub region: String,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    /// The external network for floating IPs and the router's gateway.
    pub pool: String,
}

/// The variables `from_env` reads, passed on to the head node's manager.
pub const ENV_VARS: &[&str] = &[
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_USERID",
    "OS_PASSWORD",
    "OS_REGION_NAME",
    "OS_TENANT_ID",
    "OS_TENANT_NAME",
    "OS_PROJECT_ID",
    "OS_PROJECT_NAME",
    "OS_DOMAIN_ID",
    "OS_DOMAIN_NAME",
    "OS_USER_DOMAIN_ID",
    "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_ID",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_POOL_NAME",
];

impl Credentials {
    /// From the environment (`get` reads a variable). Every missing required variable is named
    /// in one error.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Credentials> {
        let v = |k: &str| get(k).filter(|s| !s.is_empty());
        let mut missing = Vec::new();
        for k in ["OS_AUTH_URL", "OS_PASSWORD", "OS_REGION_NAME"] {
            if v(k).is_none() {
                missing.push(k);
            }
        }
        if v("OS_USERNAME").is_none() && v("OS_USERID").is_none() {
            missing.push("OS_USERNAME");
        }
        if !missing.is_empty() {
            return Err(ProviderError::Setup(format!(
                "the OpenStack provider needs {} set (source your cloud's rc file)",
                missing.join(", ")
            )));
        }
        let tenant_id = v("OS_TENANT_ID");
        Ok(Credentials {
            auth_url: v("OS_AUTH_URL").unwrap_or_default(),
            username: v("OS_USERNAME"),
            user_id: v("OS_USERID"),
            password: v("OS_PASSWORD").unwrap_or_default(),
            region: v("OS_REGION_NAME").unwrap_or_default(),
            project_name: v("OS_PROJECT_NAME").or_else(|| v("OS_TENANT_NAME")),
            project_id: v("OS_PROJECT_ID").or_else(|| tenant_id.clone()),
            user_domain_name: v("OS_USER_DOMAIN_NAME").or_else(|| v("OS_DOMAIN_NAME")),
            user_domain_id: v("OS_USER_DOMAIN_ID").or_else(|| v("OS_DOMAIN_ID")),
            project_domain_name: v("OS_PROJECT_DOMAIN_NAME").or_else(|| v("OS_DOMAIN_NAME")),
            project_domain_id: v("OS_PROJECT_DOMAIN_ID").or_else(|| v("OS_DOMAIN_ID")),
            pool: v("OS_POOL_NAME").unwrap_or_else(|| {
                if tenant_id.is_some() {
                    "nova".into()
                } else {
                    "public".into()
                }
            }),
        })
    }

    fn auth_body(&self) -> Value {
        let domain = |name: &Option<String>, id: &Option<String>| match (id, name) {
            (Some(id), _) => json!({ "id": id }),
            (None, Some(name)) => json!({ "name": name }),
            (None, None) => json!({ "id": "default" }),
        };
        let user = match (&self.user_id, &self.username) {
            (Some(id), _) => json!({ "id": id, "password": self.password }),
            (None, name) => json!({
                "name": name,
                "password": self.password,
                "domain": domain(&self.user_domain_name, &self.user_domain_id),
            }),
        };
        let mut auth = json!({
            "identity": { "methods": ["password"], "password": { "user": user } }
        });
        if let Some(id) = &self.project_id {
            auth["scope"] = json!({ "project": { "id": id } });
        } else if let Some(name) = &self.project_name {
            auth["scope"] = json!({ "project": {
                "name": name,
                "domain": domain(&self.project_domain_name, &self.project_domain_id),
            }});
        }
        json!({ "auth": auth })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Svc {
    Compute,
    Network,
    Image,
}

impl Svc {
    fn name(self) -> &'static str {
        match self {
            Svc::Compute => "Nova",
            Svc::Network => "Neutron",
            Svc::Image => "Glance",
        }
    }
}

/// A token and the endpoints of the catalog it came with.
#[derive(Debug, Clone)]
struct Session {
    token: String,
    /// When to get a new one: five minutes before it expires.
    renew_at: Instant,
    project_id: String,
    compute: String,
    network: String,
    image: String,
}

pub struct OpenStack {
    agent: ureq::Agent,
    creds: Credentials,
    session: Mutex<Option<Session>>,
    /// Seconds between polls while waiting for a server.
    poll: Duration,
}

/// The message of an OpenStack error body: Nova's `{"itemNotFound": {"message": …}}`,
/// Neutron's `{"NeutronError": {"message": …}}`, Keystone's `{"error": {"message": …}}`, or
/// the text itself.
fn error_message(body: &str) -> String {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(body) {
        for v in m.values() {
            if let Some(msg) = v.get("message").and_then(Value::as_str) {
                return msg.to_string();
            }
            if let Some(msg) = v.as_str() {
                return msg.to_string();
            }
        }
    }
    let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(300).collect()
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The endpoint of `kind` for `region` on the public interface.
fn endpoint(catalog: &Value, kind: &str, region: &str) -> Option<String> {
    let entry = catalog
        .as_array()?
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some(kind))?;
    let eps = entry.get("endpoints")?.as_array()?;
    let pick = |want_region: bool| {
        eps.iter().find(|e| {
            e.get("interface").and_then(Value::as_str) == Some("public")
                && (!want_region
                    || [e.get("region_id"), e.get("region")]
                        .iter()
                        .any(|r| r.and_then(|r| r.as_str()) == Some(region)))
        })
    };
    let url = pick(true).or_else(|| pick(false))?.get("url")?.as_str()?;
    Some(url.trim_end_matches('/').to_string())
}

/// `url` ending with the API version `v` (catalogs list Neutron and Glance without it).
fn versioned(url: String, v: &str) -> String {
    if url.ends_with(v) {
        url
    } else {
        format!("{url}/{v}")
    }
}

impl OpenStack {
    pub fn new(creds: Credentials) -> OpenStack {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        OpenStack {
            agent,
            creds,
            session: Mutex::new(None),
            poll: Duration::from_millis(500),
        }
    }

    /// From the `OS_*` variables of this process.
    pub fn from_env() -> Result<OpenStack> {
        Ok(OpenStack::new(Credentials::from_env(|k| {
            std::env::var(k).ok()
        })?))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn authenticate(&self) -> Result<Session> {
        let url = format!(
            "{}/auth/tokens",
            versioned(self.creds.auth_url.trim_end_matches('/').to_string(), "v3")
        );
        let body = serde_json::to_vec(&self.creds.auth_body()).expect("json");
        let mut r = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(|e| ProviderError::Unreachable {
                service: "Keystone",
                url: url.clone(),
                message: e.to_string(),
            })?;
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        if status != 201 || token.is_empty() {
            return Err(ProviderError::Api {
                service: "Keystone",
                method: "POST",
                url,
                status,
                message: format!(
                    "{} (check OS_USERNAME, OS_PASSWORD and the project variables)",
                    error_message(&text)
                ),
            });
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ProviderError::Other(format!("Keystone's token does not read: {e}")))?;
        let t = &v["token"];
        let lifetime = [str_of(t, "issued_at"), str_of(t, "expires_at")]
            .map(|s| chrono::DateTime::parse_from_rfc3339(&s).ok());
        let lifetime = match lifetime {
            [Some(i), Some(e)] => (e - i).to_std().unwrap_or(Duration::from_secs(3600)),
            _ => Duration::from_secs(3600),
        };
        let catalog = &t["catalog"];
        let region = &self.creds.region;
        let need = |kind: &str| {
            endpoint(catalog, kind, region).ok_or_else(|| {
                ProviderError::Setup(format!(
                    "the service catalog has no public {kind} endpoint in region {region:?} \
                     (OS_REGION_NAME)"
                ))
            })
        };
        Ok(Session {
            token,
            renew_at: Instant::now() + lifetime.saturating_sub(Duration::from_secs(300)),
            project_id: t["project"]["id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| self.creds.project_id.clone())
                .unwrap_or_default(),
            compute: need("compute")?,
            network: versioned(need("network")?, "v2.0"),
            image: versioned(need("image")?, "v2"),
        })
    }

    /// The current session: a new token when there is none, or it is about to expire.
    fn session(&self, renew: bool) -> Result<Session> {
        let mut s = self.lock();
        match &*s {
            Some(cur) if !renew && Instant::now() < cur.renew_at => Ok(cur.clone()),
            _ => {
                let new = self.authenticate()?;
                *s = Some(new.clone());
                Ok(new)
            }
        }
    }

    /// Revokes the current token in Keystone (a logout); the next call authenticates again.
    pub fn revoke_token(&self) -> Result<()> {
        let Some(s) = self.lock().clone() else {
            return Ok(());
        };
        let url = format!(
            "{}/auth/tokens",
            versioned(self.creds.auth_url.trim_end_matches('/').to_string(), "v3")
        );
        let r = self
            .agent
            .delete(&url)
            .header("X-Auth-Token", &s.token)
            .header("X-Subject-Token", &s.token)
            .call()
            .map_err(|e| ProviderError::Unreachable {
                service: "Keystone",
                url: url.clone(),
                message: e.to_string(),
            })?;
        match r.status().as_u16() {
            204 | 404 => Ok(()),
            status => Err(ProviderError::Api {
                service: "Keystone",
                method: "DELETE",
                url,
                status,
                message: "revoking the token".into(),
            }),
        }
    }

    /// The project the token is scoped to.
    pub fn project_id(&self) -> Result<String> {
        Ok(self.session(false)?.project_id)
    }

    /// One call; a refused token is renewed once. 2xx gives the body (Null when empty).
    fn call(
        &self,
        svc: Svc,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut renew = false;
        loop {
            let s = self.session(renew)?;
            let base = match svc {
                Svc::Compute => &s.compute,
                Svc::Network => &s.network,
                Svc::Image => &s.image,
            };
            let url = format!("{base}{path}");
            let unreachable = |e: ureq::Error| ProviderError::Unreachable {
                service: svc.name(),
                url: url.clone(),
                message: e.to_string(),
            };
            let r = match (method, body) {
                ("GET", _) => self.agent.get(&url).header("X-Auth-Token", &s.token).call(),
                ("DELETE", _) => self
                    .agent
                    .delete(&url)
                    .header("X-Auth-Token", &s.token)
                    .call(),
                (m, b) => {
                    let bytes = serde_json::to_vec(b.unwrap_or(&Value::Null)).expect("json");
                    let req = if m == "PUT" {
                        self.agent.put(&url)
                    } else {
                        self.agent.post(&url)
                    };
                    req.header("X-Auth-Token", &s.token)
                        .header("Content-Type", "application/json")
                        .send(&bytes[..])
                }
            };
            let mut r = r.map_err(unreachable)?;
            let status = r.status().as_u16();
            let text = r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .unwrap_or_default();
            if status == 401 && !renew {
                renew = true;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(ProviderError::Api {
                    service: svc.name(),
                    method,
                    url,
                    status,
                    message: error_message(&text),
                });
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                ProviderError::Other(format!(
                    "{}'s answer to {method} {url} does not read: {e}",
                    svc.name()
                ))
            });
        }
    }

    fn get(&self, svc: Svc, path: &str) -> Result<Value> {
        self.call(svc, "GET", path, None)
    }

    /// DELETE; Ok(false) when it was not there.
    fn delete(&self, svc: Svc, path: &str) -> Result<bool> {
        match self.call(svc, "DELETE", path, None) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The Neutron objects of `kind` (plural, e.g. `networks`) matching the query.
    fn neutron_list(&self, kind: &str, query: &str) -> Result<Vec<Value>> {
        let v = self.get(Svc::Network, &format!("/{kind}?{query}"))?;
        Ok(v[kind.replace('-', "_")]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    fn neutron_by_name(&self, kind: &str, name: &str) -> Result<Option<Value>> {
        let q = format!("name={}", enc(name));
        Ok(self
            .neutron_list(kind, &q)?
            .into_iter()
            .find(|o| str_of(o, "name") == name))
    }

    fn pool_network(&self) -> Result<String> {
        self.neutron_by_name("networks", &self.creds.pool)?
            .map(|n| str_of(&n, "id"))
            .ok_or_else(|| {
                ProviderError::Setup(format!(
                    "there is no network named {:?} for floating IPs (OS_POOL_NAME)",
                    self.creds.pool
                ))
            })
    }

    fn instance_of(v: &Value) -> Instance {
        let mut ip = None;
        let mut public_ip = None;
        if let Some(nets) = v["addresses"].as_object() {
            for addrs in nets.values() {
                for a in addrs.as_array().into_iter().flatten() {
                    let addr = str_of(a, "addr");
                    if a["OS-EXT-IPS:type"].as_str() == Some("floating") {
                        public_ip.get_or_insert(addr);
                    } else {
                        ip.get_or_insert(addr);
                    }
                }
            }
        }
        Instance {
            id: str_of(v, "id"),
            name: str_of(v, "name"),
            status: str_of(v, "status"),
            flavor: str_of(&v["flavor"], "id"),
            ip,
            public_ip,
        }
    }

    fn server_raw(&self, id: &str) -> Result<Option<Value>> {
        match self.get(Svc::Compute, &format!("/servers/{id}")) {
            Ok(v) => Ok(Some(v["server"].clone())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until the server is ACTIVE; its ERROR (with Nova's fault) or the timeout is an
    /// error.
    fn wait_active(&self, id: &str, name: &str, timeout: Duration) -> Result<Value> {
        let start = Instant::now();
        loop {
            match self.server_raw(id)? {
                Some(s) if s["status"] == "ACTIVE" => return Ok(s),
                Some(s) if s["status"] == "ERROR" => {
                    let fault = s["fault"]["message"].as_str().unwrap_or("no fault given");
                    return Err(ProviderError::Refused(format!(
                        "server {name} failed to build: {fault}"
                    )));
                }
                None => {
                    return Err(ProviderError::Refused(format!(
                        "server {name} vanished while building"
                    )))
                }
                Some(_) => {}
            }
            if start.elapsed() > timeout {
                return Err(ProviderError::Refused(format!(
                    "server {name} was not ACTIVE after {} s",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Waits until the server is gone (at most two minutes).
    fn wait_gone(&self, id: &str) -> Result<()> {
        let start = Instant::now();
        while self.server_raw(id)?.is_some() {
            if start.elapsed() > Duration::from_secs(120) {
                return Err(ProviderError::Other(format!(
                    "server {id} was still there two minutes after it was deleted"
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    /// The floating IPs on the server's ports.
    fn floating_ips_of(&self, server: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for p in self.neutron_list("ports", &format!("device_id={}", enc(server)))? {
            let q = format!("port_id={}", enc(&str_of(&p, "id")));
            out.extend(self.neutron_list("floatingips", &q)?);
        }
        Ok(out)
    }

    fn attach_floating_ip(&self, res: &Resources, server: &str) -> Result<String> {
        let pool = self.pool_network()?;
        let port = self
            .neutron_list("ports", &format!("device_id={}", enc(server)))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ProviderError::Other(format!("server {server} has no port for a floating IP"))
            })?;
        let fip = self.call(
            Svc::Network,
            "POST",
            "/floatingips",
            Some(&json!({ "floatingip": {
                "floating_network_id": pool,
                "port_id": str_of(&port, "id"),
                "description": res.prefix,
            }})),
        )?;
        Ok(str_of(&fip["floatingip"], "floating_ip_address"))
    }

    fn ensure_security_group(&self, prefix: &str, ports: &[u16]) -> Result<String> {
        if let Some(g) = self.neutron_by_name("security-groups", prefix)? {
            return Ok(str_of(&g, "id"));
        }
        let g = self.call(
            Svc::Network,
            "POST",
            "/security-groups",
            Some(&json!({ "security_group": {
                "name": prefix,
                "description": "wr-cloud: ssh and the manager's ports",
            }})),
        )?;
        let id = str_of(&g["security_group"], "id");
        let mut rules: Vec<Value> = ports
            .iter()
            .map(|p| json!({ "protocol": "tcp", "port_range_min": p, "port_range_max": p }))
            .collect();
        rules.push(json!({ "protocol": "icmp" }));
        for mut r in rules {
            r["security_group_id"] = json!(id);
            r["direction"] = json!("ingress");
            r["ethertype"] = json!("IPv4");
            r["remote_ip_prefix"] = json!("0.0.0.0/0");
            self.call(
                Svc::Network,
                "POST",
                "/security-group-rules",
                Some(&json!({ "security_group_rule": r })),
            )?;
        }
        Ok(id)
    }

    fn ensure_network(&self, res: &mut Resources, net: &NetworkPlan) -> Result<()> {
        let prefix = res.prefix.clone();
        let network = match self.neutron_by_name("networks", &prefix)? {
            Some(n) => n,
            None => {
                res.made_network = true;
                self.call(
                    Svc::Network,
                    "POST",
                    "/networks",
                    Some(&json!({ "network": { "name": prefix, "admin_state_up": true } })),
                )?["network"]
                    .clone()
            }
        };
        let network_id = str_of(&network, "id");
        res.network = Some(network_id.clone());
        let subnets = self.neutron_list("subnets", &format!("network_id={}", enc(&network_id)))?;
        let subnet_id = if subnets.len() == 1 {
            str_of(&subnets[0], "id")
        } else {
            let s = self.call(
                Svc::Network,
                "POST",
                "/subnets",
                Some(&json!({ "subnet": {
                    "name": prefix,
                    "network_id": network_id,
                    "cidr": net.cidr,
                    "gateway_ip": net.gateway,
                    "dns_nameservers": net.dns,
                    "ip_version": 4,
                }})),
            )?;
            str_of(&s["subnet"], "id")
        };
        res.subnet = Some(subnet_id.clone());
        if let Some(r) = self.neutron_by_name("routers", &prefix)? {
            res.router = Some(str_of(&r, "id"));
            return Ok(());
        }
        let pool = self.pool_network()?;
        let r = self.call(
            Svc::Network,
            "POST",
            "/routers",
            Some(&json!({ "router": {
                "name": prefix,
                "external_gateway_info": { "network_id": pool },
            }})),
        )?;
        let router_id = str_of(&r["router"], "id");
        if let Err(e) = self.call(
            Svc::Network,
            "PUT",
            &format!("/routers/{router_id}/add_router_interface"),
            Some(&json!({ "subnet_id": subnet_id })),
        ) {
            // A router without its interface is no use to the next deploy either.
            let _ = self.delete(Svc::Network, &format!("/routers/{router_id}"));
            return Err(e);
        }
        res.router = Some(router_id);
        Ok(())
    }

    /// Deletes the routers of the prefix, each after its interfaces (retried: Neutron refuses
    /// while a port is still being cleaned up).
    fn remove_routers(&self, prefix: &str, out: &mut Removed) {
        let routers = match self.neutron_list("routers", &format!("name={}", enc(prefix))) {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(format!("listing routers: {e}"));
                return;
            }
        };
        for r in routers.iter().filter(|r| str_of(r, "name") == prefix) {
            let id = str_of(r, "id");
            let q = format!(
                "device_id={}&device_owner=network:router_interface",
                enc(&id)
            );
            for p in self.neutron_list("ports", &q).unwrap_or_default() {
                for ip in p["fixed_ips"].as_array().into_iter().flatten() {
                    let body = json!({ "subnet_id": str_of(ip, "subnet_id") });
                    let path = format!("/routers/{id}/remove_router_interface");
                    for attempt in 0..10 {
                        match self.call(Svc::Network, "PUT", &path, Some(&body)) {
                            Ok(_) => break,
                            Err(e) if e.is_not_found() => break,
                            Err(e) if attempt == 9 => {
                                out.errors.push(format!("router {prefix} interface: {e}"))
                            }
                            Err(_) => std::thread::sleep(Duration::from_secs(1)),
                        }
                    }
                }
            }
            out.note(
                format!("router {prefix} ({id})"),
                self.delete(Svc::Network, &format!("/routers/{id}")),
            );
        }
    }

    /// Deletes the Neutron objects of `kind` named `prefix`.
    fn remove_named(&self, kind: &str, what: &str, prefix: &str, out: &mut Removed) {
        match self.neutron_list(kind, &format!("name={}", enc(prefix))) {
            Ok(all) => {
                for o in all.iter().filter(|o| str_of(o, "name") == prefix) {
                    let id = str_of(o, "id");
                    out.note(
                        format!("{what} {prefix} ({id})"),
                        self.delete(Svc::Network, &format!("/{kind}/{id}")),
                    );
                }
            }
            Err(e) => out.errors.push(format!("listing {kind}: {e}")),
        }
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Provider for OpenStack {
    fn name(&self) -> &'static str {
        "openstack"
    }

    fn flavors(&self) -> Result<Vec<Flavor>> {
        let v = self.get(Svc::Compute, "/flavors/detail")?;
        Ok(v["flavors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| Flavor {
                id: str_of(f, "id"),
                name: str_of(f, "name"),
                vcpus: u64_of(f, "vcpus"),
                ram: u64_of(f, "ram"),
                disk: u64_of(f, "disk"),
            })
            .collect())
    }

    fn images(&self) -> Result<Vec<Image>> {
        let mut out = Vec::new();
        let mut path = "/images?status=active&limit=200".to_string();
        loop {
            let v = self.get(Svc::Image, &path)?;
            for i in v["images"].as_array().into_iter().flatten() {
                out.push(Image {
                    id: str_of(i, "id"),
                    name: str_of(i, "name"),
                    min_disk: u64_of(i, "min_disk"),
                    min_ram: u64_of(i, "min_ram"),
                });
            }
            // `next` is a path from the server's root: "/v2/images?marker=…".
            match v["next"].as_str() {
                Some(n) => path = n.trim_start_matches("/v2").to_string(),
                None => return Ok(out),
            }
        }
    }

    fn quota(&self) -> Result<Quota> {
        let v = self.get(Svc::Compute, "/limits")?;
        let a = &v["limits"]["absolute"];
        let limit = |max: &str, used: &str| {
            Limit::new(a[max].as_i64().unwrap_or(-1), a[used].as_u64().unwrap_or(0))
        };
        Ok(Quota {
            instances: limit("maxTotalInstances", "totalInstancesUsed"),
            cores: limit("maxTotalCores", "totalCoresUsed"),
            ram: limit("maxTotalRAMSize", "totalRAMUsed"),
        })
    }

    fn prepare(
        &self,
        res: &mut Resources,
        public_key: &str,
        ports: &[u16],
        net: Option<&NetworkPlan>,
    ) -> Result<()> {
        let prefix = res.prefix.clone();
        match self.get(Svc::Compute, &format!("/os-keypairs/{}", enc(&prefix))) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                self.call(
                    Svc::Compute,
                    "POST",
                    "/os-keypairs",
                    Some(&json!({ "keypair": { "name": prefix, "public_key": public_key } })),
                )?;
            }
            Err(e) => return Err(e),
        }
        res.keypair = Some(prefix.clone());
        res.security_group = Some(self.ensure_security_group(&prefix, ports)?);
        if let Some(net) = net {
            self.ensure_network(res, net)?;
        }
        Ok(())
    }

    fn spawn(&self, res: &Resources, spec: &SpawnSpec) -> Result<Instance> {
        let network = res.network.clone().ok_or_else(|| {
            ProviderError::Other(format!("deployment {} has no network yet", res.prefix))
        })?;
        let mut server = json!({
            "name": spec.name,
            "flavorRef": spec.flavor.id,
            "imageRef": spec.image.id,
            "key_name": res.prefix,
            "security_groups": [{ "name": res.prefix }, { "name": "default" }],
            "networks": [{ "uuid": network }],
            "user_data": base64::engine::general_purpose::STANDARD.encode(&spec.user_data),
        });
        let disk = spec.disk.max(spec.image.min_disk);
        if disk > spec.flavor.disk {
            // More disk than the flavor has: boot from a volume of the size wanted.
            server["imageRef"] = json!("");
            server["block_device_mapping_v2"] = json!([{
                "boot_index": 0,
                "uuid": spec.image.id,
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": disk,
                "delete_on_termination": true,
            }]);
        }
        let created = match self.call(
            Svc::Compute,
            "POST",
            "/servers",
            Some(&json!({ "server": server })),
        ) {
            Ok(v) => v,
            Err(ProviderError::Api {
                status: 403 | 413,
                message,
                ..
            }) => {
                return Err(ProviderError::Refused(format!(
                    "spawning {} ({}): {message}",
                    spec.name, spec.flavor.name
                )))
            }
            Err(e) => return Err(e),
        };
        let id = str_of(&created["server"], "id");
        let built = self
            .wait_active(&id, &spec.name, spec.timeout)
            .and_then(|s| {
                let mut inst = OpenStack::instance_of(&s);
                if spec.external_ip {
                    inst.public_ip = Some(self.attach_floating_ip(res, &id)?);
                }
                Ok(inst)
            });
        if built.is_err() {
            let _ = self.destroy(&id);
        }
        built
    }

    fn instance(&self, id: &str) -> Result<Option<Instance>> {
        Ok(self.server_raw(id)?.map(|s| OpenStack::instance_of(&s)))
    }

    fn instances(&self, prefix: &str) -> Result<Vec<Instance>> {
        let v = self.get(
            Svc::Compute,
            &format!("/servers/detail?name={}", enc(&format!("^{prefix}"))),
        )?;
        Ok(v["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| crate::provider::of_deployment(&str_of(s, "name"), prefix))
            .map(OpenStack::instance_of)
            .collect())
    }

    fn destroy(&self, id: &str) -> Result<bool> {
        for fip in self.floating_ips_of(id)? {
            self.delete(
                Svc::Network,
                &format!("/floatingips/{}", str_of(&fip, "id")),
            )?;
        }
        if !self.delete(Svc::Compute, &format!("/servers/{id}"))? {
            return Ok(false);
        }
        self.wait_gone(id)?;
        Ok(true)
    }

    fn teardown(&self, prefix: &str) -> Removed {
        let mut out = Removed::default();
        // The deployment's floating IPs first, whether or not a server still holds them.
        match self.neutron_list("floatingips", "") {
            Ok(fips) => {
                for f in fips.iter().filter(|f| str_of(f, "description") == prefix) {
                    let id = str_of(f, "id");
                    out.note(
                        format!("floating IP {}", str_of(f, "floating_ip_address")),
                        self.delete(Svc::Network, &format!("/floatingips/{id}")),
                    );
                }
            }
            Err(e) => out.errors.push(format!("listing floating IPs: {e}")),
        }
        match self.instances(prefix) {
            Ok(servers) => {
                let results: Vec<(String, Result<bool>)> = std::thread::scope(|s| {
                    let handles: Vec<_> = servers
                        .iter()
                        .map(|i| {
                            s.spawn(move || {
                                (format!("server {} ({})", i.name, i.id), self.destroy(&i.id))
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a destroy thread does not panic"))
                        .collect()
                });
                for (what, r) in results {
                    out.note(what, r);
                }
            }
            Err(e) => out.errors.push(format!("listing servers: {e}")),
        }
        self.remove_routers(prefix, &mut out);
        self.remove_named("networks", "network", prefix, &mut out);
        self.remove_named("security-groups", "security group", prefix, &mut out);
        out.note(
            format!("keypair {prefix}"),
            self.delete(Svc::Compute, &format!("/os-keypairs/{}", enc(prefix))),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_named_together() {
        let e = Credentials::from_env(|k| (k == "OS_AUTH_URL").then(|| "http://x/v3".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OS_PASSWORD, OS_REGION_NAME, OS_USERNAME"),
            "{e}"
        );
    }

    #[test]
    fn the_pool_defaults_as_wr_chooses() {
        let base = |k: &str| match k {
            "OS_AUTH_URL" => Some("http://x/v3".into()),
            "OS_USERNAME" | "OS_PASSWORD" | "OS_REGION_NAME" => Some("v".into()),
            _ => None,
        };
        assert_eq!(Credentials::from_env(base).unwrap().pool, "public");
        let tenant = |k: &str| {
            if k == "OS_TENANT_ID" {
                Some("t1".into())
            } else {
                base(k)
            }
        };
        let c = Credentials::from_env(tenant).unwrap();
        assert_eq!(
            (c.pool.as_str(), c.project_id.as_deref()),
            ("nova", Some("t1"))
        );
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(
                r#"{"itemNotFound": {"message": "Flavor x could not be found.", "code": 404}}"#
            ),
            "Flavor x could not be found."
        );
        assert_eq!(
            error_message(
                r#"{"NeutronError": {"type": "X", "message": "Quota exceeded", "detail": ""}}"#
            ),
            "Quota exceeded"
        );
        assert_eq!(
            error_message("<html> 503  Service\nUnavailable </html>"),
            "<html> 503 Service Unavailable </html>"
        );
    }

    #[test]
    fn endpoints_come_from_the_region_and_public_interface() {
        let catalog = json!([{ "type": "compute", "endpoints": [
            { "interface": "internal", "region_id": "R1", "url": "http://internal/v2.1" },
            { "interface": "public", "region_id": "R2", "url": "http://r2/v2.1" },
            { "interface": "public", "region_id": "R1", "url": "http://r1/v2.1/" },
        ]}]);
        assert_eq!(
            endpoint(&catalog, "compute", "R1").unwrap(),
            "http://r1/v2.1"
        );
        assert_eq!(
            endpoint(&catalog, "compute", "R9").unwrap(),
            "http://r2/v2.1"
        );
        assert!(endpoint(&catalog, "network", "R1").is_none());
        assert_eq!(versioned("http://n".into(), "v2.0"), "http://n/v2.0");
        assert_eq!(versioned("http://n/v2.0".into(), "v2.0"), "http://n/v2.0");
    }
}
