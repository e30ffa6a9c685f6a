/* SPDX-License-Identifier: MIT */
/* Test helpers around a TAP interface: whether one can be made here, bringing
 * it up, and an AF_PACKET socket bound to it that sees the frames a device
 * writes to the TAP and injects frames the device then reads from it. */
#ifndef LIBVMM_TEST_TAP_UTIL_H
#define LIBVMM_TEST_TAP_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Whether this process can create a TAP interface: it needs /dev/net/tun and
 * CAP_NET_ADMIN. When not, why (errno's text) goes to why. */
static inline bool tap_possible(char *why, size_t cap)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    int e = errno;
    if (fd >= 0) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "vmmprobe%d", (int)(getpid() % 100000));
        int rc = ioctl(fd, TUNSETIFF, &ifr);
        e = errno;
        close(fd);
        if (rc == 0)
            return true;
    }
    snprintf(why, cap, "%s", strerror(e));
    return false;
}

/* Exit 77 (skip) unless this process can create a TAP interface.
 * LIBVMM_REQUIRE_KVM does not change this: it is about /dev/kvm, not TAP. */
static inline void tap_require(const char *test)
{
    char why[128];
    if (tap_possible(why, sizeof why))
        return;
    fprintf(stderr,
            "%s: SKIP: cannot create a TAP interface (%s); this test needs /dev/net/tun and "
            "CAP_NET_ADMIN (LIBVMM_REQUIRE_KVM does not apply: it is about KVM)\n",
            test, why);
    exit(77);
}

/* A TAP name unique to this process: prefix + pid. */
static inline void tap_name(char *buf, size_t cap, const char *prefix)
{
    snprintf(buf, cap, "%s%d", prefix, (int)(getpid() % 100000));
}

/* Keep the kernel quiet on the interface (no IPv6 router solicitations or
 * MLD reports), then bring it up. 0 or -1. */
static inline int tap_up(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
    int p = open(path, O_WRONLY | O_CLOEXEC);
    if (p >= 0) {
        (void)!write(p, "1", 1);
        close(p);
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

/* An AF_PACKET socket bound to the interface, all protocols. */
static inline int tap_packet_socket(const char *name)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0)
        return -1;
    struct sockaddr_ll a;
    memset(&a, 0, sizeof a);
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = (int)if_nametoindex(name);
    if (a.sll_ifindex == 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static inline uint64_t tap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next frame of EtherType type that arrived on the interface (not one
 * this host sent), within wait_ms: its length, or -1. The wait only bounds
 * a failure; nothing is asserted about the time. */
static inline ssize_t tap_recv(int s, uint16_t type, uint8_t *buf, size_t cap, int wait_ms)
{
    uint64_t end = tap_now_ms() + (uint64_t)wait_ms;
    for (;;) {
        uint64_t now = tap_now_ms();
        if (now >= end)
            return -1;
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof from;
        ssize_t k = recvfrom(s, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (k < 14 || from.sll_pkttype == PACKET_OUTGOING)
            continue;
        if (((uint16_t)buf[12] << 8 | buf[13]) == type)
            return k;
    }
}

/* Send a whole Ethernet frame out of the interface: the TAP's reader (the
 * device) receives it. 0 or -1. */
static inline int tap_inject(int s, const void *frame, size_t len)
{
    return send(s, frame, len, 0) == (ssize_t)len ? 0 : -1;
}

#endif
