// Divides by a zero read from stdin: WebAssembly traps on integer division by zero (outcome 7).
#include <stdio.h>

int main(void) {
    int divisor = 0;
    if (scanf("%d", &divisor) != 1) divisor = 0;
    printf("%d\n", 100 / divisor);
    return 0;
}
