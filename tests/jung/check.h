/* check.h - a fatal assertion for the jung unit tests (also in NDEBUG builds). */
#ifndef JUNG_TEST_CHECK_H
#define JUNG_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#endif
