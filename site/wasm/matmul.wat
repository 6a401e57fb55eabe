;; y = x @ wt: the matrix product of a Linear layer (x @ W.T, with wt = W.T stored once), for
;; the page's model worker (py/llmviz/page/wasm_matmul.py), whose numpy has no BLAS.
;;
;; x is (M, K), y is (M, N); all float32, row-major, byte addresses in this module's memory.
;; wt is (K, N) stored in panels of 8 columns: panel p holds wt[:, 8p:8p+8] as K rows of 8
;; numbers, one after the other (N / 8 panels of K * 8). M must be a multiple of 4 and N of 8
;; (the caller pads). For each panel, for each 4 rows of x, the inner loop adds x[i:i+4, k]
;; (one number per row, splat across a vector) times wt[k, j:j+8] (two vectors, the panel's next
;; 32 bytes) to a 4 x 8 block of y held in eight f32x4 registers: 6 loads for 32 multiply-adds.
;; A panel (K * 32 bytes) is read in order and stays in the cache while every row of x passes
;; it, so the weights come from memory once per product, not once per 4 rows. The sums run over
;; k in order, like the textbook loop.
(module
  (memory (export "memory") 1)
  (func (export "matmul") (param $x i32) (param $wt i32) (param $y i32) (param $M i32) (param $K i32) (param $N i32)
    (local $i i32) (local $j i32) (local $k i32)
    (local $row_x i32) (local $row_y i32) (local $x_i i32) (local $panel i32) (local $w i32) (local $out i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $y00 v128) (local $y01 v128) (local $y10 v128) (local $y11 v128) (local $y20 v128) (local $y21 v128) (local $y30 v128) (local $y31 v128)
    (local $w0 v128) (local $w1 v128) (local $s v128)
    (local.set $row_x (i32.shl (local.get $K) (i32.const 2)))
    (local.set $row_y (i32.shl (local.get $N) (i32.const 2)))
    (block $cols_done (loop $cols                       ;; j = 0, 8, ... < N: a panel
      (br_if $cols_done (i32.ge_u (local.get $j) (local.get $N)))
      (local.set $panel (i32.add (local.get $wt) (i32.mul (local.get $j) (local.get $row_x))))  ;; wt + j * K * 4
      (local.set $i (i32.const 0))
      (block $rows_done (loop $rows                     ;; i = 0, 4, ... < M
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $M)))
        (local.set $x_i (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $row_x))))
        (local.set $y00 (v128.const i32x4 0 0 0 0))
        (local.set $y01 (v128.const i32x4 0 0 0 0))
        (local.set $y10 (v128.const i32x4 0 0 0 0))
        (local.set $y11 (v128.const i32x4 0 0 0 0))
        (local.set $y20 (v128.const i32x4 0 0 0 0))
        (local.set $y21 (v128.const i32x4 0 0 0 0))
        (local.set $y30 (v128.const i32x4 0 0 0 0))
        (local.set $y31 (v128.const i32x4 0 0 0 0))
        (local.set $x0 (local.get $x_i))                ;; &x[i + r, 0] for r = 0..3
        (local.set $x1 (i32.add (local.get $x0) (local.get $row_x)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $row_x)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $row_x)))
        (local.set $w (local.get $panel))               ;; &wt[0, j] in the panel
        (local.set $k (local.get $K))
        (block $sum_done
          (br_if $sum_done (i32.eqz (local.get $k)))
          (loop $sum                                    ;; k = 0 .. K - 1
          (local.set $w0 (v128.load (local.get $w)))
          (local.set $w1 (v128.load offset=16 (local.get $w)))
          (local.set $s (v128.load32_splat (local.get $x0)))
          (local.set $y00 (f32x4.add (local.get $y00) (f32x4.mul (local.get $s) (local.get $w0))))
          (local.set $y01 (f32x4.add (local.get $y01) (f32x4.mul (local.get $s) (local.get $w1))))
          (local.set $s (v128.load32_splat (local.get $x1)))
          (local.set $y10 (f32x4.add (local.get $y10) (f32x4.mul (local.get $s) (local.get $w0))))
          (local.set $y11 (f32x4.add (local.get $y11) (f32x4.mul (local.get $s) (local.get $w1))))
          (local.set $s (v128.load32_splat (local.get $x2)))
          (local.set $y20 (f32x4.add (local.get $y20) (f32x4.mul (local.get $s) (local.get $w0))))
          (local.set $y21 (f32x4.add (local.get $y21) (f32x4.mul (local.get $s) (local.get $w1))))
          (local.set $s (v128.load32_splat (local.get $x3)))
          (local.set $y30 (f32x4.add (local.get $y30) (f32x4.mul (local.get $s) (local.get $w0))))
          (local.set $y31 (f32x4.add (local.get $y31) (f32x4.mul (local.get $s) (local.get $w1))))
          (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
          (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
          (local.set $x2 (i32.add (local.get $x2) (i32.const 4)))
          (local.set $x3 (i32.add (local.get $x3) (i32.const 4)))
          (local.set $w (i32.add (local.get $w) (i32.const 32)))
          (br_if $sum (local.tee $k (i32.sub (local.get $k) (i32.const 1))))))
        ;; y[i + r, j:j+8] = the block's row r
        (local.set $out (i32.add (local.get $y)
          (i32.shl (i32.add (i32.mul (local.get $i) (local.get $N)) (local.get $j)) (i32.const 2))))
        (v128.store offset=0 (local.get $out) (local.get $y00))
        (v128.store offset=16 (local.get $out) (local.get $y01))
        (local.set $out (i32.add (local.get $out) (local.get $row_y)))
        (v128.store offset=0 (local.get $out) (local.get $y10))
        (v128.store offset=16 (local.get $out) (local.get $y11))
        (local.set $out (i32.add (local.get $out) (local.get $row_y)))
        (v128.store offset=0 (local.get $out) (local.get $y20))
        (v128.store offset=16 (local.get $out) (local.get $y21))
        (local.set $out (i32.add (local.get $out) (local.get $row_y)))
        (v128.store offset=0 (local.get $out) (local.get $y30))
        (v128.store offset=16 (local.get $out) (local.get $y31))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $cols)))))
