package main

import "fmt"

func main() {
	// 1 MiB blocks, each written, all kept: far more than the limit
	var keep [][]byte
	for i := 0; i < 4096; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(i)
		}
		keep = append(keep, b)
	}
	fmt.Println(len(keep))
}
