/* SPDX-License-Identifier: MIT */
/* virtio-net's configuration: the backend, the MAC address (given, or derived
 * from the device's id), and the TAP interface it opens or adopts. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio_net.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "52:54:00:12:34:56": 0, or -1. */
static int parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* The default MAC: locally administered, unicast, the rest from an FNV-1a
 * hash of the device's id, so the same id always gets the same address. */
static void default_mac(const char *id, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    mac[0] = 0x02;
    for (int i = 1; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* Linux's rule for interface names (dev_valid_name): 1..IFNAMSIZ-1 bytes,
 * not "." or "..", no '/', ':' or white space. */
static bool valid_ifname(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

static int errno_code(int e)
{
    return e == EPERM || e == EACCES ? VMM_EPERM
           : e == ENOENT             ? VMM_ENOENT
           : e == EBUSY              ? VMM_EBUSY
                                     : VMM_EIO;
}

/* Open /dev/net/tun and attach it to TAP interface name (created if absent
 * and the process may). */
int vmm__net_tap_open(vmm_device *dev, const char *name, int *out)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        vmm_device_error(dev, "config.tap: cannot open /dev/net/tun for \"%s\": %s", name,
                         strerror(e));
        return errno_code(e);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name)); /* valid_ifname(): < IFNAMSIZ, NUL-padded */
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        vmm_device_error(dev, "config.tap: cannot attach TAP interface \"%s\": %s%s", name,
                         strerror(e),
                         e == EPERM ? " (needs CAP_NET_ADMIN, or `ip tuntap add ... user`)" : "");
        return errno_code(e);
    }
    *out = fd;
    return 0;
}

/* An embedder's TAP descriptor: it must be a TAP without packet information
 * or virtio-net headers (frames are plain Ethernet). Made non-blocking. */
int vmm__net_tap_adopt(vmm_device *dev, int fd)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        vmm_device_error(dev, "config.tap_fd: %d is not a TAP descriptor: %s", fd, strerror(errno));
        return VMM_ECONFIG;
    }
    if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)) != (IFF_TAP | IFF_NO_PI)) {
        vmm_device_error(dev,
                         "config.tap_fd: %d must be a TAP opened with IFF_NO_PI and "
                         "without IFF_VNET_HDR",
                         fd);
        return VMM_ECONFIG;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        vmm_device_error(dev, "config.tap_fd: %d: %s", fd, strerror(errno));
        return VMM_EIO;
    }
    return 0;
}

static int get_string(vmm_device *dev, struct json_object *cfg, const char *key, const char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(cfg, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        vmm_device_error(dev, "config.%s: must be a string", key);
        return VMM_ECONFIG;
    }
    *out = json_object_get_string(v);
    return 1;
}

/* The keys other than the transport's: backend, MAC, TAP. */
int vmm__net_cfg(vmm_device *dev, struct json_object *cfg, struct net *n, int *tap_fd,
                 const char **tap)
{
    const char *backend, *mac;
    uint64_t fdv;
    int rc, has_fd;
    if ((rc = get_string(dev, cfg, "backend", &backend)) < 0 ||
        (rc = get_string(dev, cfg, "mac", &mac)) < 0 || (rc = get_string(dev, cfg, "tap", tap)) < 0)
        return rc;
    if ((has_fd = vmm__cfg_u64(dev, cfg, "tap_fd", 0, INT_MAX, 0, &fdv)) < 0)
        return VMM_ECONFIG;
    *tap_fd = has_fd ? (int)fdv : -1;
    if (backend && strcmp(backend, "tap") && strcmp(backend, "callback")) {
        vmm_device_error(dev, "config.backend: \"%s\" is not a backend (\"tap\" or \"callback\")",
                         backend);
        return VMM_ECONFIG;
    }
    /* Default: the TAP backend when a TAP is named, else the callbacks. */
    n->tap = backend ? !strcmp(backend, "tap") : (*tap || has_fd);
    if (n->tap && !*tap && !has_fd) {
        vmm_device_error(dev, "config.tap: required with backend \"tap\" (an interface name)");
        return VMM_ECONFIG;
    }
    if (n->tap && *tap && has_fd) {
        vmm_device_error(dev, "config.tap_fd: give \"tap\" or \"tap_fd\", not both");
        return VMM_ECONFIG;
    }
    if (!n->tap && (*tap || has_fd)) {
        vmm_device_error(dev, "config.%s: only with backend \"tap\"", *tap ? "tap" : "tap_fd");
        return VMM_ECONFIG;
    }
    if (*tap && !valid_ifname(*tap)) {
        vmm_device_error(dev,
                         "config.tap: \"%s\" is not an interface name (1-%d bytes, no '/', "
                         "':' or spaces)",
                         *tap, IFNAMSIZ - 1);
        return VMM_ECONFIG;
    }
    if (mac) {
        if (parse_mac(mac, n->config) < 0 || (n->config[0] & 1)) {
            vmm_device_error(dev,
                             "config.mac: \"%s\" is not a unicast MAC address like "
                             "\"52:54:00:12:34:56\"",
                             mac);
            return VMM_ECONFIG;
        }
    } else {
        default_mac(vmm_device_id(dev), n->config);
    }
    n->config[6] = S_LINK_UP; /* status, little-endian: the link is always up */
    n->config[7] = 0;
    return 0;
}
