/* Raw system calls for the code that runs in the jail's children before execve.
 *
 * Init and the program are cloned with CLONE_VM: they share the supervisor's memory, so
 * that no page table is copied per run (a fork costs ~0.7 ms on these VMs, a CLONE_VM
 * clone ~0.04 ms). The supervisor keeps running meanwhile, and its thread-local state
 * (errno, the stack canary) is the children's too. So the children's code must not
 * write any libc state: these wrappers return -errno instead of setting errno, and the
 * children call only them and pure functions (snprintf into their own buffers, memcpy,
 * strlen). Internal to the sandbox library. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
static inline long jr_sys6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
        long ret;
        register long r10 __asm__("r10") = a4;
        register long r8 __asm__("r8") = a5;
        register long r9 __asm__("r9") = a6;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}
#elif defined(__aarch64__)
static inline long jr_sys6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a1;
        register long x1 __asm__("x1") = a2;
        register long x2 __asm__("x2") = a3;
        register long x3 __asm__("x3") = a4;
        register long x4 __asm__("x4") = a5;
        register long x5 __asm__("x5") = a6;
        __asm__ volatile("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory");
        return x0;
}
#else
#error "jailrun's jail supports x86_64 and aarch64"
#endif

/* JR_SYS(SYS_mount, src, dst, ...): up to six arguments, missing ones are 0. Returns the
 * kernel's answer: >= 0, or -errno. */
#define JR_SYS_ARG(x) ((long)(x))
#define JR_SYS_6(n, a, b, c, d, e, f, ...)                                                         \
        jr_sys6((n), JR_SYS_ARG(a), JR_SYS_ARG(b), JR_SYS_ARG(c), JR_SYS_ARG(d), JR_SYS_ARG(e),    \
                JR_SYS_ARG(f))
#define JR_SYS(n, ...) JR_SYS_6((n), __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define JR_SYS0(n)     jr_sys6((n), 0, 0, 0, 0, 0, 0)

struct clone_args;
/* clone3 that runs fn(arg) in the child on the stack given in args (CLONE_VM needs
 * one), then exits with its return value. Returns the child's pid in the parent, or
 * -errno. The child never returns here. */
long jr_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
