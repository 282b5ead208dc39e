/* Debug info for the expression fuzzer: compiled by `gcc -g -no-pie` at
 * seed time (scripts/fuzz), giving real DWARF for structs, unions, arrays,
 * bitfields, enums, typedefs and pointers. Its globals are the names the
 * expressions read; the fuzzer's memory window starts at fuzz_window. */
#include <stdint.h>

typedef unsigned long fuzz_ulong;

struct fuzz_list { struct fuzz_list *next, *prev; };

enum fuzz_state { FUZZ_IDLE = 0, FUZZ_RUNNING = 1, FUZZ_DEAD = 0x80 };

union fuzz_word { uint64_t u; int32_t halves[2]; char bytes[8]; double d; };

struct fuzz_flags {
    unsigned int ready : 1;
    unsigned int mode : 3;
    signed int delta : 5;
    unsigned long long wide : 40;
};

struct fuzz_task {
    int pid;
    char comm[16];
    enum fuzz_state state;
    struct fuzz_flags flags;
    union fuzz_word word;
    struct fuzz_list tasks;
    struct fuzz_task *parent;
    fuzz_ulong stack[4];
    int matrix[3][2];
    const char *name;
    void (*callback)(int);
    struct { short a; unsigned char b; } anon;
};

struct fuzz_window_t {
    struct fuzz_task init_task;
    struct fuzz_task tasks[4];
    char text[64];
    uint8_t raw[2048];
};

struct fuzz_window_t fuzz_window;
struct fuzz_task *fuzz_current = &fuzz_window.init_task;
union fuzz_word fuzz_word_value;
int fuzz_counter;

static void fuzz_callback(int x) { fuzz_counter += x; }

int main(void) {
    fuzz_window.init_task.callback = fuzz_callback;
    return fuzz_window.init_task.pid + (int)fuzz_word_value.u;
}
