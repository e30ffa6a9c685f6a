/* SPDX-License-Identifier: MIT */
/* Counts the host resources this process opens, libvmm's opens included:
 * open() of one watched file, open() of /dev/net/tun and bind() of a UNIX
 * socket under one watched path. Each call goes on to the C library's own
 * function (found with RTLD_NEXT), so nothing else changes. Include it in
 * one test program only: it defines open() and bind() for the whole
 * program. */
#ifndef LIBVMM_TEST_COUNT_CALLS_H
#define LIBVMM_TEST_COUNT_CALLS_H

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

static char counted_file[512];     /* open() of exactly this path */
static char counted_sock_dir[108]; /* bind() of a socket path starting with this */
static int count_file_opens, count_tun_opens, count_binds;

static void count_calls_reset(const char *file, const char *sock_prefix)
{
    snprintf(counted_file, sizeof counted_file, "%s", file ? file : "");
    snprintf(counted_sock_dir, sizeof counted_sock_dir, "%s", sock_prefix ? sock_prefix : "");
    count_file_opens = count_tun_opens = count_binds = 0;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (*counted_file && strcmp(path, counted_file) == 0)
        count_file_opens++;
    if (strcmp(path, "/dev/net/tun") == 0)
        count_tun_opens++;
    return real(path, flags, mode);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "bind");
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
    if (addr && addr->sa_family == AF_UNIX && *counted_sock_dir &&
        strncmp(un->sun_path, counted_sock_dir, strlen(counted_sock_dir)) == 0)
        count_binds++;
    return real(fd, addr, len);
}

#endif
