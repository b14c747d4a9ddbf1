/* The engine's clock readings (engine-private, shared by engine.c and reload.c): one copy of
 * each, so every part of the engine measures intervals and stamps times the same way. */
#ifndef TRIPLINE_CLOCK_PRIV_H
#define TRIPLINE_CLOCK_PRIV_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in ns (CLOCK_MONOTONIC): intervals, deadlines, pacing. Any thread. */
static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall time in ns since the Unix epoch (CLOCK_REALTIME): stamps of records and stats. Any
 * thread. */
static inline uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
