/* test_memcpy.c - jung/lib/musl_memcpy.c, the memcpy of the musl static
 * services, against a byte loop: every size from 0 to 300 (each of its
 * branches: 1, 2-3, 4-7, 8-15, 16-32, rep movsb) at every source and
 * destination misalignment within 8 bytes, and it writes nothing outside
 * [dst, dst + n). */
#include "tests/testlib.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void *__wrap_memcpy(void *restrict dst, const void *restrict src, size_t n);

enum { MAX_SIZE = 300, SLACK = 16, GUARD = 0xA5 };

static int check_one(size_t n, size_t src_off, size_t dst_off)
{
    unsigned char src[MAX_SIZE + SLACK], dst[MAX_SIZE + 2 * SLACK];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(i * 7 + n);
    for (size_t i = 0; i < sizeof dst; i++)
        dst[i] = GUARD;
    unsigned char *to = dst + SLACK / 2 + dst_off;
    if (__wrap_memcpy(to, src + src_off, n) != to)
        return 0;
    for (size_t i = 0; i < sizeof dst; i++) {
        bool inside = dst + i >= to && dst + i < to + n;
        unsigned char want = inside ? src[src_off + (size_t)(dst + i - to)] : GUARD;
        if (dst[i] != want)
            return 0;
    }
    return 1;
}

int main(void)
{
    for (size_t n = 0; n <= MAX_SIZE; n++)
        for (size_t s = 0; s < 8; s++)
            for (size_t d = 0; d < 8; d++)
                CHECK(check_one(n, s, d),
                      "a copy of %zu bytes, source offset %zu, destination "
                      "offset %zu, equal to the source and nothing more",
                      n, s, d);
    return failures ? 1 : 0;
}
