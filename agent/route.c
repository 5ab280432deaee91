#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct route__ctx {
    struct route_info *out;
    int family;
};

static int route__metric(const struct nlattr *a, void *data)
{
    struct route_info *out = data;
    if (mnl_attr_get_type(a) == RTAX_MTU && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
        out->route_mtu = mnl_attr_get_u32(a);
    return MNL_CB_OK;
}

static int route__attr(const struct nlattr *a, void *data)
{
    struct route__ctx *ctx = data;
    switch (mnl_attr_get_type(a)) {
    case RTA_OIF:
        if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
            ctx->out->oif = (int)mnl_attr_get_u32(a);
        break;
    case RTA_GATEWAY:
        if (mnl_attr_get_payload_len(a) == (ctx->family == AF_INET ? 4u : 16u))
            inet_ntop(ctx->family, mnl_attr_get_payload(a), ctx->out->gateway,
                      sizeof ctx->out->gateway);
        break;
    case RTA_METRICS:
        mnl_attr_parse_nested(a, route__metric, ctx->out);
        break;
    }
    return MNL_CB_OK;
}

static int route__msg(const struct nlmsghdr *nlh, void *data)
{
    struct route__ctx *ctx = data;
    mnl_attr_parse(nlh, sizeof(struct rtmsg), route__attr, ctx);
    return MNL_CB_OK;
}

static int route__if_mtu(struct route_info *out)
{
    if (!if_indextoname((unsigned)out->oif, out->ifname))
        return -errno;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", out->ifname);
    int rc = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? 0 : -errno;
    if (rc == 0)
        out->if_mtu = (unsigned)ifr.ifr_mtu;
    close(fd);
    return rc;
}

int route_lookup(const struct sockaddr_storage *dst, struct route_info *out)
{
    memset(out, 0, sizeof *out);
    char buf[8192]; /* one RTM_GETROUTE answer */
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = (unsigned)time(NULL);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
    rtm->rtm_family = (unsigned char)dst->ss_family;
    if (dst->ss_family == AF_INET) {
        rtm->rtm_dst_len = 32;
        mnl_attr_put(nlh, RTA_DST, 4, &((const struct sockaddr_in *)dst)->sin_addr);
    } else if (dst->ss_family == AF_INET6) {
        rtm->rtm_dst_len = 128;
        mnl_attr_put(nlh, RTA_DST, 16, &((const struct sockaddr_in6 *)dst)->sin6_addr);
    } else {
        return -EAFNOSUPPORT;
    }
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl)
        return -errno;
    int rc = -EIO;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
        mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        rc = -errno;
        goto out;
    }
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) {
        rc = -errno;
        goto out;
    }
    struct route__ctx ctx = {out, dst->ss_family};
    if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), route__msg, &ctx) <
        0) {
        rc = errno ? -errno : -EIO; /* ENETUNREACH and friends come back as an error */
        goto out;
    }
    rc = out->oif ? route__if_mtu(out) : -ENETUNREACH;
out:
    mnl_socket_close(nl);
    return rc;
}
