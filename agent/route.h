/* route: what the kernel would do with a packet to an address, asked over
 * rtnetlink (RTM_GETROUTE), as `ip route get` does: the outgoing interface
 * and its MTU, the gateway, and the route's MTU, which includes a path MTU
 * the kernel learnt from ICMP and still caches. */
#ifndef FL_ROUTE_H
#define FL_ROUTE_H

#include <net/if.h>
#include <sys/socket.h>

struct route_info {
    int oif;
    char ifname[IF_NAMESIZE];
    unsigned if_mtu;     /* the interface's MTU */
    unsigned route_mtu;  /* the route's (or cached path) MTU; 0 when none is set */
    char gateway[64];    /* "" when directly connected */
};

/* Look up the route to DST.  0, or -errno. */
int route_lookup(const struct sockaddr_storage *dst, struct route_info *out);

#endif
