/* Arm semihosting: the debugger (here QEMU, -semihosting-config enable=on,target=native)
 * performs I/O for the target. Only two calls are used: print a string, exit with a code. */
#ifndef SEMIHOST_H
#define SEMIHOST_H

void sh_write0(const char *s);
void sh_write_int(long v);
void sh_exit(int code) __attribute__((noreturn));

#endif
