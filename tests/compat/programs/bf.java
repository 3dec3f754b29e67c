public class Main {
    public static void main(String[] args) {
        int sum = 1 +;
        System.out.println(sum);
    }
}
