// Writes a line, then exits with status 3: the job ends with outcome 7 (no output).
#include <stdio.h>

int main(void) {
    puts("about to fail");
    return 3;
}
