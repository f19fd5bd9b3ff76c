// Allocates and touches memory until the job's memory limit ends it (outcome 6).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (16 << 20)

// Each block is chained to the previous one, so the compiler cannot drop an allocation.
struct block {
    struct block *previous;
};

int main(void) {
    struct block *last = NULL;
    size_t total = 0;
    for (;;) {
        struct block *block = malloc(BLOCK);
        if (block == NULL) break;
        memset(block, 1, BLOCK);
        block->previous = last;
        last = block;
        total += BLOCK;
    }
    // Only reached if the whole 4 GiB of a wasm32 memory fits under the limit.
    size_t blocks = 0;
    for (struct block *b = last; b != NULL; b = b->previous) blocks++;
    printf("%zu bytes in %zu blocks\n", total, blocks);
    return 0;
}
