import java.util.ArrayList;
import java.util.List;

public class Main {
    public static void main(String[] args) {
        // 1 MiB arrays, all kept: far more than the limit
        List<byte[]> keep = new ArrayList<>();
        for (int i = 0; i < 4096; i++)
            keep.add(new byte[1 << 20]);
        System.out.println(keep.size());
    }
}
