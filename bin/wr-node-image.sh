#!/bin/sh
# Builds the image servers of wr-cloud's docker provider boot from: Debian 12's OpenSSH server
# (with sftp), bash, coreutils and procps, busybox for the other tools, and an init that plays
# the part cloud-init plays on OpenStack: it makes the login user with the deployment's public
# key, runs the user data (which touches the sentinel that says boot is done), then runs sshd.
# Packages come from Debian's archive (no container registry is needed); extra packages for
# what commands need are unpacked as named (name their libraries too). Kept under its tag:
# nothing is downloaded when the image is there already.
#
# usage: wr-node-image.sh IMAGE [PACKAGE...]
set -eu
[ $# -ge 1 ] || { echo "usage: $0 IMAGE [PACKAGE...]" >&2; exit 2; }
image=$1
shift
docker image inspect "$image" >/dev/null 2>&1 && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
packages="openssh-server openssh-sftp-server openssh-client bash coreutils procps busybox-static
  libc6 libgcc-s1 libcrypt1 libssl3 zlib1g libwrap0 libaudit1 libcap-ng0 libpam0g libselinux1
  libpcre2-8-0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1
  libsystemd0 liblzma5 libzstd1 liblz4-1 libgcrypt20 libgpg-error0 libcap2 libedit2 libbsd0
  libmd0 libtinfo6 libfido2-1 libcbor0.8 libudev1 libproc2-0 libncursesw6 libacl1 libattr1
  libgmp10 libnsl2 libtirpc3 libtirpc-common $*"
# apt-get download needs the package lists; fetch them once when they are missing or stale.
# shellcheck disable=SC2086
apt-get download $packages >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download $packages >/dev/null; }
mkdir root
for deb in *.deb; do dpkg-deb -x "$deb" root; done
# Debian 12 keeps /bin, /sbin and /lib under /usr only after usrmerge's scripts run.
for d in bin sbin lib lib64; do
    if [ -d "root/$d" ] && [ ! -L "root/$d" ]; then
        mkdir -p "root/usr/$d"
        cp -a "root/$d/." "root/usr/$d/"
        rm -rf "root/$d"
    fi
    ln -s "usr/$d" "root/$d"
done
mkdir -p root/tmp root/root root/proc root/sys root/dev root/etc root/run/sshd root/home root/var/empty
chmod 1777 root/tmp
for applet in $(root/usr/bin/busybox --list); do
    [ -e "root/usr/bin/$applet" ] || [ -e "root/usr/sbin/$applet" ] || ln -s busybox "root/usr/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > root/etc/passwd
printf 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' > root/etc/shadow
chmod 600 root/etc/shadow
printf 'root:x:0:\nnogroup:x:65534:\n' > root/etc/group
cat > root/etc/ssh/sshd_config <<'EOF'
# wr-cloud node: key login only, for root and the login user.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxSessions 64
MaxStartups 100:30:200
Subsystem sftp /usr/lib/openssh/sftp-server
AcceptEnv LANG LC_*
EOF
cat > root/usr/sbin/wr-node-init <<'EOF'
#!/bin/bash
# Boot: the login user ($WR_USER, default root) with the key in $WR_AUTHORIZED_KEY, host keys,
# the user data in $WR_USER_DATA (base64) run once, then sshd in the foreground.
set -e
user=${WR_USER:-root}
if ! grep -q "^$user:" /etc/passwd; then
    echo "$user:x:1000:1000::/home/$user:/bin/bash" >> /etc/passwd
    echo "$user:*:19000:0:99999:7:::" >> /etc/shadow
    echo "$user:x:1000:" >> /etc/group
    mkdir -p "/home/$user"
    chown 1000:1000 "/home/$user"
fi
home=$(grep "^$user:" /etc/passwd | cut -d: -f6)
mkdir -p "$home/.ssh"
printf '%s\n' "$WR_AUTHORIZED_KEY" > "$home/.ssh/authorized_keys"
chmod 700 "$home/.ssh"
chmod 600 "$home/.ssh/authorized_keys"
chown -R "$(id -u "$user"):$(id -g "$user")" "$home/.ssh"
# One ed25519 host key, made at boot (an RSA key would cost half a second of every boot).
[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
# The head node gets the engine's socket (its cloud API): the login user may use it.
if [ -S /var/run/docker.sock ] && [ "$user" != root ]; then
    gid=$(stat -c %g /var/run/docker.sock)
    if grep -q "^[^:]*:x:$gid:" /etc/group; then
        sed -i "s/^\([^:]*:x:$gid:.*\)/\1,$user/; s/:,$user/:$user/" /etc/group
    else
        echo "engine:x:$gid:$user" >> /etc/group
    fi
fi
if [ -n "${WR_USER_DATA:-}" ]; then
    printf '%s' "$WR_USER_DATA" | base64 -d > /tmp/.wr_user_data
    bash /tmp/.wr_user_data > /tmp/.wr_user_data.log 2>&1 || true
    chown "$user" /tmp/.wr_cloud_sentinel 2>/dev/null || true
fi
unset WR_AUTHORIZED_KEY WR_USER_DATA
exec /usr/sbin/sshd -D -e
EOF
chmod 755 root/usr/sbin/wr-node-init
tar -C root -cf - . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin' \
    --change 'CMD ["/usr/sbin/wr-node-init"]' \
    --change 'LABEL org.wr-cloud.node=1' - "$image" >/dev/null
