#include <iostream>

int main()
{
        long long x, sum = 0;
        while (std::cin >> x)
                sum += x;
        std::cout << sum + 1 << '\n'; // off by one
}
