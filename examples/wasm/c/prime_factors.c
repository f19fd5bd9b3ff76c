// The prime-factor job as a WASI command: reads {"num": N} from stdin, writes the factors of N
// joined by commas to stdout (the same output as the JavaScript example).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    static char input[4096];
    size_t length = fread(input, 1, sizeof input - 1, stdin);
    input[length] = '\0';
    const char *key = strstr(input, "\"num\"");
    const char *colon = key ? strchr(key, ':') : NULL;
    if (colon == NULL) {
        fputs("expected {\"num\": N}\n", stderr);
        return 2;
    }
    unsigned long long n = strtoull(colon + 1, NULL, 10);
    const char *separator = "";
    for (unsigned long long d = 2; d * d <= n; d++) {
        while (n % d == 0) {
            printf("%s%llu", separator, d);
            separator = ",";
            n /= d;
        }
    }
    if (n > 1) printf("%s%llu", separator, n);
    return 0;
}
