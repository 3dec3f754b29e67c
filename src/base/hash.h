/* Checksums and hash functions: CRC-32 for what is written to disk, SipHash-2-4 for hash
 * tables whose keys come from outside, a 64-bit mixer for those whose keys do not. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE), chainable: crc = jr_crc32(crc, ...) starting from 0. */
uint32_t jr_crc32(uint32_t crc, const void *data, size_t n);

/* SipHash-2-4 of data under a 16-byte key. */
uint64_t jr_siphash24(const void *data, size_t len, const uint8_t key[16]);

/* splitmix64's finaliser: fast, for keys that no one outside chooses. */
static inline uint64_t jr_mix64(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}
