/* SPDX-License-Identifier: MIT */
/* Sandbox program: system calls the default policy refuses (a socket, opening
 * a file) must fail with ENOSYS without ending the program. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

int main(void)
{
    errno = 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int s_err = errno;
    errno = 0;
    int f = openat(AT_FDCWD, "/etc/passwd", O_RDONLY);
    int f_err = errno;
    if (s == -1 && s_err == ENOSYS && f == -1 && f_err == ENOSYS)
        printf("denied: ENOSYS\n");
    else
        printf("denied: unexpected: socket %d (%s), openat %d (%s)\n", s, strerror(s_err), f,
               strerror(f_err));
    printf("still running\n");
    return 0;
}
