#!/usr/bin/env bash
# The HTTP probe against nginx in the lab, compared with curl run from the
# same host at the same time.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
CA=/run/faultline-lab/tls/ca.crt
# The probe exits 1 when its result is not ok: that is what most checks want.
probe() { "$LAB" exec "$1" "$AGENT" probe http --json "${@:2}" || true; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }

"$LAB" up >/dev/null

for host in web far; do
    for fam in 4 6; do
        family=ipv$fam
        ours=$(probe r2a1 --family "$family" "$host.lab.test")
        curl_code=$("$LAB" exec r2a1 curl -"$fam" -s -o /dev/null -w '%{http_code}' "http://$host.lab.test/")
        curl_server=$("$LAB" exec r2a1 curl -"$fam" -s -D - -o /dev/null "http://$host.lab.test/" |
            tr -d '\r' | sed -n 's/^[Ss]erver: //p')
        check "$host over IPv$fam: status $(field status_code <<<"$ours") = curl's $curl_code" \
            test "$(field status_code <<<"$ours")" = "$curl_code"
        check "$host over IPv$fam: Server '$(field server <<<"$ours")' = curl's '$curl_server'" \
            test "$(field server <<<"$ours")" = "$curl_server"
    done
done
ours=$(probe r1a1 --family ipv4 web.lab.test)
check "Server is split into product and version" \
    test "$(field server_product <<<"$ours") $(field server_version <<<"$ours")" = \
    "$(nginx -v 2>&1 | sed 's|.*nginx/\([0-9.]*\).*|nginx \1|')"

tls=$(probe r3a1 --family ipv4 --scheme https --ca_file "$CA" web.lab.test)
curl_tls=$("$LAB" exec r3a1 curl -4 -sv --cacert "$CA" -o /dev/null https://web.lab.test/ 2>&1 |
    sed -n 's/.*SSL connection using \(TLSv[0-9.]*\).*/\1/p')
check "https: ok, TLS version $(field tls_version <<<"$tls") = curl's $curl_tls" \
    test "$(field status <<<"$tls") $(field tls_version <<<"$tls")" = "ok $curl_tls"
days=$(field cert_days_left <<<"$tls")
check "https: the certificate has 89-90 days left (got $days)" test "$days" -ge 89 -a "$days" -le 90

soon=$(probe r3a1 --family ipv6 --scheme https --port 8443 --ca_file "$CA" web.lab.test)
check "a certificate expiring in 3 days gets the warning 0x4255" \
    test "$(field fault_code <<<"$soon") $(field status_code <<<"$soon")" = "0x4255 200"
wrong=$(probe r3a1 --family ipv4 --scheme https --port 9443 --ca_file "$CA" web.lab.test)
check "a certificate for another name gets the mismatch code 0x42a2" \
    test "$(field fault_code <<<"$wrong")" = 0x42a2
untrusted=$(probe r3a1 --family ipv4 --scheme https web.lab.test)
check "without the lab CA the certificate is untrusted, 0x42a4" \
    test "$(field fault_code <<<"$untrusted")" = 0x42a4

check "a closed port is refused, 0x3791" \
    test "$(probe r1a1 --family ipv4 --port 81 web.lab.test | field fault_code)" = 0x3791
check "a reset port is refused as the kernel reports it, 0x3791" \
    test "$(probe r1a1 --family ipv6 --port 83 web.lab.test | field fault_code)" = 0x3791
check "a dropped port is a connect timeout, 0x3792" \
    test "$(probe r1a1 --family ipv4 --port 82 --timeout 300ms web.lab.test | field fault_code)" = 0x3792
check "an unexpected status is typed, 0x4181" \
    test "$(probe r1a1 --family ipv4 --expect_status 204 web.lab.test | field fault_code)" = 0x4181
check "a body without the expected text is typed, 0x4173" \
    test "$(probe r1a1 --family ipv4 --expect_body 'no such text' web.lab.test | field fault_code)" = 0x4173
check "a body with the expected text is ok" \
    test "$(probe r1a1 --family ipv4 --expect_body 'lab: web' web.lab.test | field status)" = ok

"$LAB" fault slow-http on >/dev/null
start=$SECONDS
slow=$(probe r2a2 --family ipv4 --timeout 2s --retries 2 web.lab.test)
took=$((SECONDS - start))
check "slow HTTP (6 s): a response timeout 0x4192 after exactly 3 attempts (${took}s)" \
    test "$(field fault_code <<<"$slow") $(field attempts <<<"$slow")" = "0x4192 3"
check "the three attempts took about 3 x 2 s" test $took -ge 5 -a $took -le 8
"$LAB" fault slow-http off >/dev/null

"$LAB" fault web-down on >/dev/null
check "web down: refused from every region" bash -c "
    for a in r1a1 r2a1 r3a1; do
        '$LAB' exec \$a '$AGENT' probe http --json web.lab.test | grep -c '\"fault_code\":\"0x3791\"' | grep -qx 2 || exit 1
    done"
"$LAB" fault web-down off >/dev/null
