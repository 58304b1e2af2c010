;; Face registration's luma pyramid (pipeline/faces/register.ts lumaPyramid) in WebAssembly: the
;; same floating-point operations in the same order as the JS, so the same levels to the bit
;; (test/faces/register-kernels.test.ts).
;; Built into register-kernels.wasm.ts by scripts/build-wasm.mjs (npm run build:wasm).
(module
  (memory (export "memory") 1)
  ;; BT.601 luma of the RGB pixel at p, as the JS writes it: (0.299·r + 0.587·g) + 0.114·b.
  (func $lum (param $p i32) (result f64)
    (f64.add
      (f64.add
        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $p))))
        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $p)))))
      (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $p))))))
  ;; The first level, w × h blocks (f32 at out), from the rows it reads, packed: for block row oy
  ;; the per rows oy·per … oy·per + per − 1 of ww RGB pixels each (image rows y0 + oy·f + off +
  ;; r·stride). Each block: per × per reads, stride px apart from px off, times k. per = 4: the
  ;; sum of a block row of reads rounded to f32 after each row; else each read row added to the
  ;; stored f32 (out starts at 0).
  (func (export "pyramidBase") (param $src i32) (param $ww i32) (param $w i32) (param $h i32)
        (param $per i32) (param $stride i32) (param $k f64) (param $off i32) (param $out i32)
    (local $oy i32) (local $ox i32) (local $r i32) (local $p i32) (local $p0 i32) (local $step i32)
    (local $rowBytes i32) (local $v f64) (local $acc f64) (local $o i32) (local $dx i32)
    (local.set $step (i32.mul (local.get $stride) (i32.const 3)))
    (local.set $rowBytes (i32.mul (local.get $ww) (i32.const 3)))
    (local.set $o (local.get $out))
    (if (i32.eq (local.get $per) (i32.const 4))
      (then
        (block $yd (loop $yl
          (br_if $yd (i32.ge_u (local.get $oy) (local.get $h)))
          (local.set $p0 (i32.add (local.get $src)
            (i32.add (i32.mul (i32.shl (local.get $oy) (i32.const 2)) (local.get $rowBytes)) (i32.mul (local.get $off) (i32.const 3)))))
          (local.set $ox (i32.const 0))
          (block $xd (loop $xl
            (br_if $xd (i32.ge_u (local.get $ox) (local.get $w)))
            (local.set $v (f64.const 0))
            (local.set $p (local.get $p0))
            (local.set $r (i32.const 0))
            (block $rd (loop $rl
              (br_if $rd (i32.ge_u (local.get $r) (i32.const 4)))
              (local.set $acc
                (f64.add
                  (f64.add
                    (f64.add (call $lum (local.get $p)) (call $lum (i32.add (local.get $p) (local.get $step))))
                    (call $lum (i32.add (local.get $p) (i32.shl (local.get $step) (i32.const 1)))))
                  (call $lum (i32.add (local.get $p) (i32.mul (local.get $step) (i32.const 3))))))
              (local.set $v (f64.promote_f32 (f32.demote_f64 (f64.add (local.get $v) (f64.mul (local.get $acc) (local.get $k))))))
              (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $rl)))
            (f32.store (local.get $o) (f32.demote_f64 (local.get $v)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $p0 (i32.add (local.get $p0) (i32.shl (local.get $step) (i32.const 2))))
            (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
            (br $xl)))
          (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
          (br $yl))))
      (else
        (memory.fill (local.get $out) (i32.const 0) (i32.shl (i32.mul (local.get $w) (local.get $h)) (i32.const 2)))
        (block $yd2 (loop $yl2
          (br_if $yd2 (i32.ge_u (local.get $oy) (local.get $h)))
          (local.set $r (i32.const 0))
          (block $rd2 (loop $rl2
            (br_if $rd2 (i32.ge_u (local.get $r) (local.get $per)))
            (local.set $p (i32.add (local.get $src)
              (i32.add (i32.mul (i32.add (i32.mul (local.get $oy) (local.get $per)) (local.get $r)) (local.get $rowBytes)) (i32.mul (local.get $off) (i32.const 3)))))
            (local.set $o (i32.add (local.get $out) (i32.shl (i32.mul (local.get $oy) (local.get $w)) (i32.const 2))))
            (local.set $ox (i32.const 0))
            (block $xd2 (loop $xl2
              (br_if $xd2 (i32.ge_u (local.get $ox) (local.get $w)))
              (local.set $acc (f64.const 0))
              (local.set $dx (i32.const 0))
              (block $dd (loop $dl
                (br_if $dd (i32.ge_u (local.get $dx) (local.get $per)))
                (local.set $acc (f64.add (local.get $acc) (call $lum (local.get $p))))
                (local.set $p (i32.add (local.get $p) (local.get $step)))
                (local.set $dx (i32.add (local.get $dx) (i32.const 1)))
                (br $dl)))
              (f32.store (local.get $o)
                (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $o))) (f64.mul (local.get $acc) (local.get $k)))))
              (local.set $o (i32.add (local.get $o) (i32.const 4)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
              (br $xl2)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rl2)))
          (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
          (br $yl2))))))
  ;; The next level: each px a quarter of the sum of a 2 × 2 block of the level below (pw px wide).
  (func (export "halve") (param $in i32) (param $pw i32) (param $w i32) (param $h i32) (param $out i32)
    (local $y i32) (local $x i32) (local $r0 i32) (local $r1 i32) (local $o i32)
    (local.set $o (local.get $out))
    (block $yd (loop $yl
      (br_if $yd (i32.ge_u (local.get $y) (local.get $h)))
      (local.set $r0 (i32.add (local.get $in) (i32.shl (i32.mul (i32.shl (local.get $y) (i32.const 1)) (local.get $pw)) (i32.const 2))))
      (local.set $r1 (i32.add (local.get $r0) (i32.shl (local.get $pw) (i32.const 2))))
      (local.set $x (i32.const 0))
      (block $xd (loop $xl
        (br_if $xd (i32.ge_u (local.get $x) (local.get $w)))
        (f32.store (local.get $o)
          (f32.demote_f64
            (f64.mul (f64.const 0.25)
              (f64.add
                (f64.add
                  (f64.add (f64.promote_f32 (f32.load (local.get $r0))) (f64.promote_f32 (f32.load offset=4 (local.get $r0))))
                  (f64.promote_f32 (f32.load (local.get $r1))))
                (f64.promote_f32 (f32.load offset=4 (local.get $r1)))))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 8)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $xl)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yl))))
)
