#!/usr/bin/env bash
# Make the capture test files from real traffic in the lab, and record what
# tshark counts in each, so the tests can compare without tshark.
#   tests/data/captures/make.sh BUILD_DIR     (root; installs tshark)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LAB=$ROOT/deploy/lab/lab.sh
x() { "$LAB" exec r1a1 "$@"; }
command -v tshark >/dev/null && command -v tcpdump >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tshark tcpdump >/dev/null
"$LAB" up >/dev/null

capture() { # NAME FILTER COMMAND...: capture on r1a1's eth0 while COMMAND runs
    local name=$1 filter=$2; shift 2
    ip netns exec fl-r1a1 tcpdump -U -s 256 -i eth0 -w "$HERE/$name.pcap" "$filter" 2>/dev/null &
    local pid=$! # ip netns exec execs tcpdump: this is tcpdump's pid
    # tcpdump writes the file header once it is capturing.
    for _ in $(seq 50); do [ -s "$HERE/$name.pcap" ] && break; sleep 0.1; done
    "$@" || true
    sleep 1 # late answers (RSTs, ICMP) belong to the window too
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

capture loss-transfer 'tcp port 80' bash -c "
    '$LAB' fault loss on r1 4 >/dev/null
    for i in 1 2 3; do '$LAB' exec r1a1 curl -s -o /dev/null -m 20 http://10.77.100.2/big; done
    '$LAB' fault loss off r1 >/dev/null"
capture refused 'tcp port 81' bash -c "for i in 1 2 3 4 5; do '$LAB' exec r1a1 curl -s -m 2 http://10.77.100.2:81/; done"
capture dropped-syn 'tcp port 82' x curl -s -m 4 http://10.77.100.2:82/
capture frag-needed 'icmp or icmp6 or host 10.77.104.2 or host fd77:0:0:104::2' bash -c "
    '$LAB' exec r1a1 ip route flush cache; '$LAB' exec r1a1 ip -6 route flush cache
    '$LAB' exec r1a1 ping -c 3 -i 0.2 -M do -s 1472 10.77.104.2
    '$LAB' exec r1a1 ping -6 -c 3 -i 0.2 -M do -s 1452 fd77:0:0:104::2"
capture zero-window 'tcp port 80' bash -c "
    '$LAB' exec r1a1 sysctl -qw net.ipv4.tcp_rmem='4096 4096 4096'
    '$LAB' exec r1a1 curl -s -o /dev/null -m 8 --limit-rate 20k http://10.77.100.2/big
    '$LAB' exec r1a1 sysctl -qw net.ipv4.tcp_rmem='4096 131072 6291456'"

# tshark's counts, one "name count" per line, for the filters the analyser mirrors.
for f in "$HERE"/*.pcap; do
    out=${f%.pcap}.tshark
    : >"$out"
    while read -r key filter; do
        n=$(tshark -n -r "$f" -Y "$filter" 2>/dev/null | wc -l)
        echo "$key $n" >>"$out"
    done <<'FILTERS'
syn tcp.flags.syn==1 && tcp.flags.ack==0
synack tcp.flags.syn==1 && tcp.flags.ack==1
rst tcp.flags.reset==1
retransmissions tcp.analysis.retransmission
fast_retransmissions tcp.analysis.fast_retransmission
duplicate_acks tcp.analysis.duplicate_ack
zero_windows tcp.analysis.zero_window
frag_needed icmp.type==3 && icmp.code==4
packet_too_big icmpv6.type==2
tcp tcp
FILTERS
done
"$LAB" down >/dev/null
