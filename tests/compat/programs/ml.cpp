#include <vector>

int main()
{
        // 1 MiB blocks, each written, kept: far more than the limit
        std::vector<std::vector<char>> keep;
        for (int i = 0; i < 4096; i++)
                keep.emplace_back(1 << 20, static_cast<char>(i | 1));
        return static_cast<int>(keep.size() & 1);
}
