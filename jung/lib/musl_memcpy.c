/* musl_memcpy.c - memcpy for the musl-linked static services only.
 *
 * musl's x86_64 memcpy starts every copy with `rep movsq`, whose start-up
 * costs tens of cycles even for a count of zero. Jung's hot paths make
 * millions of tiny copies: jansson appends each character of a JSON string
 * with a 1-byte memcpy (strbuffer_append_byte), librdkafka reads every
 * integer of a Kafka response with a 2-8 byte one (rd_slice_read). Profiled
 * under bench/jung-throughput, musl's memcpy took 16-18 % of the API
 * gateway's cycles (glibc's: 1.3 %). The services link with
 * -Wl,--wrap=memcpy, so every call of memcpy (in libc.a and every archive
 * too) comes here; libc.a's stays for its memmove. Sizes up to 32 bytes
 * are a few overlapping loads and stores, larger ones `rep movsb` (fast
 * on CPUs with ERMS, all x86_64 since 2012). Built with -O2 (see
 * jung/CMakeLists.txt): the fixed-size __builtin_memcpy calls must become
 * moves, never calls to memcpy itself. */
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lo, hi;
} jung_16bytes;

/* Copies n (2*size >= n >= size) bytes as two possibly overlapping
 * size-byte blocks: the first and the last. */
#define COPY_TWO(type, d, s, n)                                                                    \
    do {                                                                                           \
        type head_, tail_;                                                                         \
        __builtin_memcpy(&head_, (s), sizeof head_);                                               \
        __builtin_memcpy(&tail_, (s) + (n) - sizeof tail_, sizeof tail_);                          \
        __builtin_memcpy((d), &head_, sizeof head_);                                               \
        __builtin_memcpy((d) + (n) - sizeof tail_, &tail_, sizeof tail_);                          \
    } while (0)

void *__wrap_memcpy(void *restrict dst, const void *restrict src, size_t n);

void *__wrap_memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n >= 16 && n <= 32)
        COPY_TWO(jung_16bytes, d, s, n);
    else if (n >= 8 && n < 16)
        COPY_TWO(uint64_t, d, s, n);
    else if (n >= 4 && n < 8)
        COPY_TWO(uint32_t, d, s, n);
    else if (n >= 2 && n < 4)
        COPY_TWO(uint16_t, d, s, n);
    else if (n == 1)
        *d = *s;
    else if (n > 32)
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}
