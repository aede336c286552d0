#include <cstdio>
int main() { std::puts("overdrive: not built yet"); return 1; }
