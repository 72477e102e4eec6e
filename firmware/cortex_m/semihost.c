#include "semihost.h"

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int sh_call(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void sh_write0(const char *s) { sh_call(SYS_WRITE0, s); }

void sh_write_int(long v) {
  char buf[16];
  char *p = buf + sizeof buf - 1;
  unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
  *p = '\0';
  do {
    *--p = (char)('0' + u % 10u);
    u /= 10u;
  } while (u != 0u);
  if (v < 0) *--p = '-';
  sh_write0(p);
}

void sh_exit(int code) {
  /* QEMU exits with `code` as its own exit status */
  const unsigned long block[2] = {ADP_STOPPED_APPLICATION_EXIT, (unsigned long)code};
  sh_call(SYS_EXIT_EXTENDED, block);
  for (;;) {
  }
}
