#!/usr/bin/env bash
# The faultline lab: a small fleet in network namespaces on one machine.
#
#   regions r1, r2, r3: a router each (fl-rN) and two agent hosts (fl-rNa1, fl-rNa2)
#   fl-core:            the core router joining the regions and the services
#   fl-web:  nginx (Server: nginx/<version>) on :80; :81 closed, :82 dropped, :83 reset
#   fl-dns:  unbound, authoritative for lab.test (every host has A and AAAA; app.lab.test
#            has web's and far's)
#   fl-coll: where the collector listens (tcp://coll.lab.test:5555)
#   fl-mtur: a router whose link to fl-far has MTU 1400; fl-far runs nginx too
#   fl-back: a second host behind fl-mtur (link MTU 1500), nginx on :80
#
# IPv4 and IPv6 on every link: link L is 10.77.L.0/24 and fd77:0:0:L::/64, the
# router side .1/::1, the host side .2/::2.  Nothing here is connected to the
# host's own network: traffic stays inside these namespaces.
#
# usage: lab.sh up | down | status | hosts | exec HOST CMD... | fault NAME on|off [ARGS]
# faults (each reversible with "off"):
#   web-down            nginx on fl-web stopped
#   tcp-reset PORT      fl-web answers SYNs to PORT with a TCP reset
#   isolate HOST        HOST (an agent host) loses all connectivity
#   cut RA RB           regions RA and RB cannot reach each other; both reach the rest
#   loss REGION PCT     PCT % loss each way on REGION's uplink
#   latency REGION MS   MS milliseconds added each way on REGION's uplink
#   dns-down            unbound stopped
#   dns-servfail        every name in svc.lab.test answers SERVFAIL (the rest of lab.test works)
#   mtu-blackhole       fl-mtur drops the ICMP "fragmentation needed"/"packet too big" it sends
#   router-down         fl-mtur stops forwarding (it still answers itself): far and back
#                       are cut off from everyone
#   slow-http           fl-web answers every request after 6 s
#   sysctl-drift HOST   HOST's net.ipv4.tcp_syn_retries set to 3 (the others keep theirs)
#   drift               fl-far's nginx stops naming its version (Server: nginx): app.lab.test,
#                       served by web and far, has backends that answer differently
set -euo pipefail

P=fl-
STATE=${FL_LAB_STATE:-/run/faultline-lab}
ZONE=lab.test
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REGIONS=(r1 r2 r3)
AGENTS=(r1a1 r1a2 r2a1 r2a2 r3a1 r3a2)
SERVICES=(web dns coll mtur far back)
NGINX_MODULES=/usr/lib/nginx/modules

die() { echo "lab: $*" >&2; exit 1; }
ns() { ip netns exec "$P$1" "${@:2}"; }
exists() { ip netns list | grep -qw "$P$1"; }

all_hosts() { echo core "${REGIONS[@]}" "${AGENTS[@]}" "${SERVICES[@]}"; }

# link NS_A IF_A NS_B IF_B L [MTU]: a veth pair with link L's addresses,
# NS_A is the .1 side.
link() {
    local a=$1 ia=$2 b=$3 ib=$4 l=$5 mtu=${6:-1500}
    ip link add "$ia" netns "$P$a" mtu "$mtu" type veth peer name "$ib" netns "$P$b" mtu "$mtu"
    ns "$a" ip addr add "10.77.$l.1/24" dev "$ia"
    ns "$a" ip -6 addr add "fd77:0:0:$l::1/64" dev "$ia" nodad
    ns "$b" ip addr add "10.77.$l.2/24" dev "$ib"
    ns "$b" ip -6 addr add "fd77:0:0:$l::2/64" dev "$ib" nodad
    ns "$a" ip link set "$ia" up
    ns "$b" ip link set "$ib" up
}

# The link number of each host's uplink, and its address.
link_of() {
    case $1 in
    r[1-3]) echo "${1#r}" ;;
    r[1-3]a[12]) local r=${1:1:1} a=${1:3:1}; echo "$r$a" ;;
    web) echo 100 ;; dns) echo 101 ;; coll) echo 102 ;; mtur) echo 103 ;; far) echo 104 ;;
    back) echo 105 ;;
    *) die "no such host: $1" ;;
    esac
}
addr4() { echo "10.77.$(link_of "$1").2"; }
addr6() { echo "fd77:0:0:$(link_of "$1")::2"; }

new_ns() {
    ip netns add "$P$1"
    ns "$1" ip link set lo up
    ns "$1" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
    ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    mkdir -p "/etc/netns/$P$1"
    printf 'nameserver 10.77.101.2\nnameserver fd77:0:0:101::2\nsearch %s\noptions timeout:1 attempts:2\n' \
        "$ZONE" >"/etc/netns/$P$1/resolv.conf"
}

router() {
    ns "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

route() { # NS DEST VIA4 [VIA6-DEST VIA6]
    ns "$1" ip route add "$2" via "$3"
}

# The lab's own CA and three certificates for web.lab.test's TLS ports:
# :443 valid 90 days, :8443 expiring in 3 days, :9443 issued for another name.
make_certs() {
    local d=$STATE/tls
    mkdir -p "$d"
    [ -f "$d/ca.crt" ] && return 0
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -days 3650 \
        -subj "/CN=faultline lab CA" 2>/dev/null
    local spec name cn days
    for spec in web:web.lab.test:90 soon:web.lab.test:3 wrong:other.lab.test:90; do
        IFS=: read -r name cn days <<<"$spec"
        openssl req "${ec[@]}" -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$cn" 2>/dev/null
        printf 'subjectAltName=DNS:%s\n' "$cn" >"$d/$name.ext"
        openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days "$days" -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
    done
}

start_nginx() { # HOST [slow|drift]
    local h=$1 dir=$STATE/nginx-$1 slow=${2:-} tokens=on
    mkdir -p "$dir"
    [ "$slow" = drift ] && { tokens=off; slow=; }
    local body='return 200 "faultline lab: '"$h"'\n";'
    [ -n "$slow" ] && body='echo_sleep 6; echo "faultline lab: '"$h"' (slow)";'
    local tls=""
    if [ "$h" = web ]; then
        local name port
        for spec in web:443 soon:8443 wrong:9443; do
            IFS=: read -r name port <<<"$spec"
            tls+="    server { listen $port ssl; listen [::]:$port ssl;
        ssl_certificate $STATE/tls/$name.crt; ssl_certificate_key $STATE/tls/$name.key;
        location / { default_type text/plain; $body } }
"
        done
    fi
    cat >"$dir/nginx.conf" <<CONF
load_module $NGINX_MODULES/ngx_http_echo_module.so;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
    server_tokens $tokens;
    server {
        listen 80 default_server; listen [::]:80 default_server;
        location / { default_type text/plain; $body }
        location = /big { default_type application/octet-stream; alias $STATE/big.bin; }
    }
$tls}
CONF
    if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
        # Running: reload.  The listening sockets stay open, so changing a
        # fault costs no refused connection (a restart would, and that is a
        # fault of its own).  Done once every worker of the old generation
        # is gone (one finishing a slow answer takes up to 6 s): until then
        # an old worker may still take a new connection.
        local old left
        old=$(nginx_workers "$dir/nginx.pid")
        ns "$h" nginx -c "$dir/nginx.conf" -s reload 2>>"$dir/error.log"
        for _ in $(seq 300); do
            left=$(nginx_workers "$dir/nginx.pid" | grep -xF "$old" || true)
            [ -z "$left" ] && return 0
            sleep 0.05
        done
        die "$h: nginx did not reload (see $dir/error.log)"
    fi
    ns "$h" nginx -c "$dir/nginx.conf" -g 'daemon on;'
}

nginx_workers() { ps -o pid= --ppid "$(cat "$1")" 2>/dev/null | tr -d ' ' || true; }

stop_pidfile() {
    local f=$1
    [ -f "$f" ] || return 0
    local pid; pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
}

start_unbound() { # [servfail]
    local dir=$STATE/unbound servfail=${1:-}
    mkdir -p "$dir"
    {
        cat <<CONF
server:
    interface: 10.77.101.2
    interface: fd77:0:0:101::2
    port: 53
    do-daemonize: yes
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: "$dir/unbound.pid"
    logfile: "$dir/unbound.log"
    use-syslog: no
    access-control: 10.77.0.0/16 allow
    access-control: fd77::/16 allow
    # Authoritative for the lab only: everything else is refused, so
    # nothing ever leaves the lab to look for a root server.  The one
    # exception is broken.test, forwarded to a port on the DNS host where
    # nothing listens: every query for it gets SERVFAIL, at once.
    do-not-query-localhost: no
    infra-cache-max-rtt: 100
    unknown-server-time-limit: 100
    outbound-msg-retry: 1
    local-zone: "." refuse
    local-zone: "broken.test." transparent
    local-zone: "$ZONE." static
    # svc.$ZONE: names of services; the dns-servfail fault makes the
    # whole zone answer SERVFAIL (forwarded to the same dead port).
    local-data: "$ZONE. 300 IN SOA ns.$ZONE. admin.$ZONE. 1 3600 600 86400 300"
    local-data: "$ZONE. 300 IN NS ns.$ZONE."
    local-data: "ns.$ZONE. 300 IN A 10.77.101.2"
    local-data: "ns.$ZONE. 300 IN AAAA fd77:0:0:101::2"
    local-data: "www.$ZONE. 300 IN CNAME web.$ZONE."
    local-data: "$ZONE. 300 IN MX 10 web.$ZONE."
    local-data: '$ZONE. 300 IN TXT "faultline lab"'
CONF
        for h in "${AGENTS[@]}" "${SERVICES[@]}"; do
            echo "    local-data: \"$h.$ZONE. 300 IN A $(addr4 "$h")\""
            echo "    local-data: \"$h.$ZONE. 300 IN AAAA $(addr6 "$h")\""
        done
        # app: a name with two backends, web and far.
        for h in web far; do
            echo "    local-data: \"app.$ZONE. 300 IN A $(addr4 "$h")\""
            echo "    local-data: \"app.$ZONE. 300 IN AAAA $(addr6 "$h")\""
        done
        if [ -n "$servfail" ]; then
            echo "    local-zone: \"svc.$ZONE.\" transparent"
        else
            echo "    local-data: \"api.svc.$ZONE. 300 IN A $(addr4 web)\""
            echo "    local-data: \"db.svc.$ZONE. 300 IN A $(addr4 far)\""
        fi
        # 40 A records: more than a 512-byte UDP answer holds (truncated).
        for i in $(seq 1 40); do echo "    local-data: \"many.$ZONE. 300 IN A 10.77.200.$i\""; done
        printf 'forward-zone:\n    name: "broken.test."\n    forward-addr: 127.0.0.1@5353\n'
        [ -z "$servfail" ] ||
            printf 'forward-zone:\n    name: "svc.%s."\n    forward-addr: 127.0.0.1@5353\n' "$ZONE"
        printf 'remote-control:\n    control-enable: no\n'
    } >"$dir/unbound.conf"
    ns dns unbound -c "$dir/unbound.conf"
}

# Wait until a TCP port answers inside a namespace (services start async).
wait_port() { # HOST ADDR PORT
    for _ in $(seq 100); do
        ns "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.05
    done
    die "$1: nothing listening on $2:$3"
}

wait_dns() {
    for _ in $(seq 100); do
        ns r1a1 getent hosts "web.$ZONE" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "the lab's DNS does not answer"
}

lab_up() {
    if exists core; then
        echo "lab is already up"
        return 0
    fi
    command -v nginx >/dev/null && command -v unbound >/dev/null && command -v nft >/dev/null ||
        die "missing packages: run deploy/install-deps.sh test"
    mkdir -p "$STATE"
    for h in $(all_hosts); do new_ns "$h"; done
    router core
    for r in "${REGIONS[@]}"; do router "$r"; done
    router mtur

    for r in "${REGIONS[@]}"; do
        local n=${r#r}
        link core "to-$r" "$r" uplink "$n"
        ns "$r" ip route add default via "10.77.$n.1"
        ns "$r" ip -6 route add default via "fd77:0:0:$n::1"
        for a in 1 2; do
            local h=${r}a$a l=$n$a
            link "$r" "to-$h" "$h" eth0 "$l"
            ns "$h" ip route add default via "10.77.$l.1"
            ns "$h" ip -6 route add default via "fd77:0:0:$l::1"
            ns core ip route add "10.77.$l.0/24" via "10.77.$n.2"
            ns core ip -6 route add "fd77:0:0:$l::/64" via "fd77:0:0:$n::2"
        done
    done
    for s in web dns coll mtur; do
        local l; l=$(link_of "$s")
        link core "to-$s" "$s" eth0 "$l"
        ns "$s" ip route add default via "10.77.$l.1"
        ns "$s" ip -6 route add default via "fd77:0:0:$l::1"
    done
    # far sits behind mtur on a link with MTU 1400.
    link mtur to-far far eth0 104 1400
    ns far ip route add default via 10.77.104.1
    ns far ip -6 route add default via fd77:0:0:104::1
    ns core ip route add 10.77.104.0/24 via 10.77.103.2
    ns core ip -6 route add fd77:0:0:104::/64 via fd77:0:0:103::2
    # back sits behind mtur too, on an ordinary link.
    link mtur to-back back eth0 105
    ns back ip route add default via 10.77.105.1
    ns back ip -6 route add default via fd77:0:0:105::1
    ns core ip route add 10.77.105.0/24 via 10.77.103.2
    ns core ip -6 route add fd77:0:0:105::/64 via fd77:0:0:103::2

    # fl-web: :81 closed (nothing listens), :82 dropped, :83 reset.
    ns web nft -f - <<'NFT'
table inet fl_lab {
    chain input {
        type filter hook input priority 0;
        tcp dport 82 drop
        tcp dport 83 reject with tcp reset
        meta l4proto { tcp, udp } th dport 53 drop
    }
}
NFT
    make_certs
    head -c 4194304 /dev/zero >"$STATE/big.bin" # /big: a 4 MiB transfer
    start_nginx web
    start_nginx far
    start_nginx back
    start_unbound
    wait_port web 10.77.100.2 80
    wait_port web 10.77.100.2 443
    wait_port far 10.77.104.2 80
    wait_port back 10.77.105.2 80
    wait_dns
    warm_up
    echo "lab is up: $(all_hosts | wc -w) hosts; try: $0 hosts"
}

# Resolve every neighbour once (IPv6 neighbour discovery through three
# routers takes about a second the first time), so the first probes of a
# test measure the path, not the set-up.
warm_up() {
    local pids=()
    for a in "${AGENTS[@]}"; do
        for s in web dns coll far back; do
            ns "$a" ping -q -c 1 -W 3 "$(addr4 "$s")" >/dev/null 2>&1 & pids+=($!)
            ns "$a" ping -q -c 1 -W 3 "$(addr6 "$s")" >/dev/null 2>&1 & pids+=($!)
        done
    done
    wait "${pids[@]}" || true
}

lab_down() {
    for h in $(all_hosts); do
        if exists "$h"; then
            # Every process started in the namespace goes with it.
            local pids; pids=$(ip netns pids "$P$h" 2>/dev/null || true)
            [ -n "$pids" ] && kill $pids 2>/dev/null || true
        fi
    done
    for h in $(all_hosts); do
        if exists "$h"; then
            local pids; pids=$(ip netns pids "$P$h" 2>/dev/null || true)
            for _ in $(seq 50); do
                [ -z "$pids" ] && break
                pids=$(ip netns pids "$P$h" 2>/dev/null || true)
                sleep 0.1
            done
            [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
            ip netns del "$P$h"
        fi
        rm -rf "/etc/netns/$P$h"
    done
    pkill -f "fl-delay .*$STATE" 2>/dev/null || true
    rm -rf "$STATE"
    echo "lab is down"
}

lab_status() {
    if ! exists core; then echo "lab is down"; return 1; fi
    echo "lab is up"
    for h in $(all_hosts); do
        printf '  %-6s %s\n' "$h" "$(ns "$h" ip -br addr show | awk '$1 != "lo" {print $1, $3, $4}' | tr '\n' ' ')"
    done
    [ -d "$STATE/faults" ] && ls "$STATE/faults" | sed 's/^/  fault on: /' || true
}

lab_hosts() {
    for h in "${AGENTS[@]}" "${SERVICES[@]}"; do
        printf '%-6s %-16s %-22s %s.%s\n' "$h" "$(addr4 "$h")" "$(addr6 "$h")" "$h" "$ZONE"
    done
}

region_nets4() { echo "10.77.$1.0/24, 10.77.${1}1.0/24, 10.77.${1}2.0/24"; }
region_nets6() { echo "fd77:0:0:$1::/64, fd77:0:0:${1}1::/64, fd77:0:0:${1}2::/64"; }

# An nft table per fault, so "off" is deleting exactly what "on" added.
nft_on() { # HOST TABLE RULES
    ns "$1" nft -f - <<NFT
table inet $2 {
$3
}
NFT
}
nft_off() { ns "$1" nft delete table inet "$2" 2>/dev/null || true; }

mark() { mkdir -p "$STATE/faults"; if [ "$2" = on ]; then touch "$STATE/faults/$1"; else rm -f "$STATE/faults/$1"; fi; }

fault() {
    local name=${1:-} mode=${2:-}
    [ "$mode" = on ] || [ "$mode" = off ] || die "usage: fault NAME on|off [ARGS]"
    exists core || die "lab is down"
    shift 2
    case $name in
    web-down)
        if [ "$mode" = on ]; then stop_pidfile "$STATE/nginx-web/nginx.pid"
        else [ -f "$STATE/nginx-web/nginx.pid" ] || start_nginx web; wait_port web 10.77.100.2 80; fi
        mark web-down "$mode" ;;
    slow-http)
        if [ "$mode" = on ]; then start_nginx web slow; else start_nginx web; fi
        wait_port web 10.77.100.2 80
        mark slow-http "$mode" ;;
    tcp-reset)
        local port=${1:?tcp-reset needs a PORT}
        [[ $port =~ ^[0-9]+$ ]] || die "tcp-reset: '$port' is not a port"
        if [ "$mode" = on ]; then
            nft_on web "fl_reset_$port" "chain input { type filter hook input priority -10; tcp dport $port reject with tcp reset; }"
        else nft_off web "fl_reset_$port"; fi
        mark "tcp-reset-$port" "$mode" ;;
    isolate)
        local h=${1:?isolate needs an agent HOST}
        exists "$h" || die "isolate: no host $h"
        if [ "$mode" = on ]; then
            nft_on "$h" fl_isolate 'chain input { type filter hook input priority -10; iifname "eth0" drop; }
chain output { type filter hook output priority -10; oifname "eth0" drop; }'
        else nft_off "$h" fl_isolate; fi
        mark "isolate-$h" "$mode" ;;
    cut)
        local a=${1:?cut needs two regions} b=${2:?cut needs two regions}
        [[ $a =~ ^r[1-3]$ && $b =~ ^r[1-3]$ && $a != "$b" ]] || die "cut: regions are r1, r2, r3"
        local na=${a#r} nb=${b#r} t="fl_cut_${a}_${b}"
        if [ "$mode" = on ]; then
            nft_on core "$t" "chain forward {
type filter hook forward priority -10;
ip saddr { $(region_nets4 "$na") } ip daddr { $(region_nets4 "$nb") } drop
ip saddr { $(region_nets4 "$nb") } ip daddr { $(region_nets4 "$na") } drop
ip6 saddr { $(region_nets6 "$na") } ip6 daddr { $(region_nets6 "$nb") } drop
ip6 saddr { $(region_nets6 "$nb") } ip6 daddr { $(region_nets6 "$na") } drop
}"
        else nft_off core "$t"; fi
        mark "cut-$a-$b" "$mode" ;;
    loss)
        local r=${1:?loss needs a REGION} pct=${2:-}
        [[ $r =~ ^r[1-3]$ ]] || die "loss: regions are r1, r2, r3"
        if [ "$mode" = on ]; then
            [[ $pct =~ ^[0-9]+$ && $pct -le 100 ]] || die "loss: PCT must be 0-100"
            nft_on core "fl_loss_$r" "chain forward {
type filter hook forward priority -10;
iifname \"to-$r\" numgen random mod 100 < $pct drop
oifname \"to-$r\" numgen random mod 100 < $pct drop
}"
        else nft_off core "fl_loss_$r"; fi
        mark "loss-$r" "$mode" ;;
    latency)
        local r=${1:?latency needs a REGION} ms=${2:-}
        [[ $r =~ ^r[1-3]$ ]] || die "latency: regions are r1, r2, r3"
        latency "$r" "$mode" "$ms"
        mark "latency-$r" "$mode" ;;
    dns-down)
        if [ "$mode" = on ]; then stop_pidfile "$STATE/unbound/unbound.pid"
        else [ -f "$STATE/unbound/unbound.pid" ] || start_unbound; wait_dns; fi
        mark dns-down "$mode" ;;
    sysctl-drift)
        local h=${1:?sysctl-drift needs an agent HOST}
        exists "$h" || die "sysctl-drift: no host $h"
        local saved=$STATE/sysctl-drift-$h
        if [ "$mode" = on ]; then
            [ -f "$saved" ] || ns "$h" sysctl -n net.ipv4.tcp_syn_retries >"$saved"
            ns "$h" sysctl -qw net.ipv4.tcp_syn_retries=3
        elif [ -f "$saved" ]; then
            ns "$h" sysctl -qw net.ipv4.tcp_syn_retries="$(cat "$saved")"
            rm -f "$saved"
        fi
        mark "sysctl-drift-$h" "$mode" ;;
    drift)
        if [ "$mode" = on ]; then start_nginx far drift; else start_nginx far; fi
        wait_port far 10.77.104.2 80
        mark drift "$mode" ;;
    dns-servfail)
        stop_pidfile "$STATE/unbound/unbound.pid"
        if [ "$mode" = on ]; then start_unbound servfail; else start_unbound; fi
        wait_dns
        mark dns-servfail "$mode" ;;
    mtu-blackhole)
        if [ "$mode" = on ]; then
            nft_on mtur fl_blackhole 'chain output { type filter hook output priority -10;
icmp type destination-unreachable icmp code frag-needed drop
icmpv6 type packet-too-big drop
}'
        else nft_off mtur fl_blackhole; fi
        # Forget path MTUs learnt before, or the hole stays hidden behind them.
        for h in "${AGENTS[@]}"; do ns "$h" ip route flush cache; ns "$h" ip -6 route flush cache; done
        mark mtu-blackhole "$mode" ;;
    router-down)
        if [ "$mode" = on ]; then
            nft_on mtur fl_router_down 'chain forward { type filter hook forward priority -10; drop; }'
        else nft_off mtur fl_router_down; fi
        mark router-down "$mode" ;;
    *) die "unknown fault '$name' (see $0 --help)" ;;
    esac
    echo "fault $name $mode"
}

# Added latency without netem: packets crossing the region's uplink on the
# core are queued to user space (iptables NFQUEUE) where fl-delay holds each
# one for MS milliseconds before letting it through.
latency() {
    local r=$1 mode=$2 ms=$3 q=$(( ${1#r} + 10 ))
    local pidf=$STATE/delay-$r.pid
    if [ "$mode" = on ]; then
        [[ $ms =~ ^[0-9]+$ && $ms -ge 1 && $ms -le 10000 ]] || die "latency: MS must be 1-10000"
        local bin=${FL_DELAY:-$HERE/../../build/deploy/lab/fl-delay}
        [ -x "$bin" ] || die "latency needs fl-delay (build the project first)"
        stop_pidfile "$pidf"
        ns core "$bin" --queue "$q" --delay-ms "$ms" --pidfile "$pidf" --state "$STATE" &
        for _ in $(seq 50); do [ -f "$pidf" ] && break; sleep 0.05; done
        [ -f "$pidf" ] || die "fl-delay did not start"
        for ipt in iptables ip6tables; do
            ns core "$ipt" -t mangle -A FORWARD -i "to-$r" -j NFQUEUE --queue-num "$q" --queue-bypass
            ns core "$ipt" -t mangle -A FORWARD -o "to-$r" -j NFQUEUE --queue-num "$q" --queue-bypass
        done
    else
        for ipt in iptables ip6tables; do
            ns core "$ipt" -t mangle -D FORWARD -i "to-$r" -j NFQUEUE --queue-num "$q" --queue-bypass 2>/dev/null || true
            ns core "$ipt" -t mangle -D FORWARD -o "to-$r" -j NFQUEUE --queue-num "$q" --queue-bypass 2>/dev/null || true
        done
        stop_pidfile "$pidf"
    fi
}

[ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces)"
case ${1:-} in
up) lab_up ;;
down) lab_down ;;
status) lab_status ;;
hosts) lab_hosts ;;
exec) shift; h=${1:?exec HOST CMD...}; shift; ns "$h" "$@" ;;
fault) shift; fault "$@" ;;
-h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
