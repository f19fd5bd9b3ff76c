// Never ends: the job's deadline stops it (outcome 4).
int main(void) {
    volatile unsigned long counter = 0;
    for (;;) counter++;
}
