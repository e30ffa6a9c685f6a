/* SPDX-License-Identifier: MIT */
/* Sandbox program: copies stdin to stdout, uppercased. */
#include <ctype.h>
#include <unistd.h>

int main(void)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0)
            return 1;
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0)
                return 2;
            off += w;
        }
    }
}
