;; Face registration's luma pyramid and NCC (pipeline/faces/register.ts lumaPyramid, score) in WebAssembly: the
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
    (local $q i32) (local $s i32) (local $t i32)
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
              ;; the four reads of this block row, luma inlined (no call per read)
              (local.set $q (i32.add (local.get $p) (local.get $step)))
              (local.set $s (i32.add (local.get $q) (local.get $step)))
              (local.set $t (i32.add (local.get $s) (local.get $step)))
              (local.set $acc
                (f64.add
                  (f64.add
                    (f64.add
                      (f64.add
                      (f64.add
                        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $p))))
                        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $p)))))
                      (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $p)))))
                      (f64.add
                      (f64.add
                        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $q))))
                        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $q)))))
                      (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $q))))))
                    (f64.add
                      (f64.add
                        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $s))))
                        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $s)))))
                      (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $s))))))
                  (f64.add
                      (f64.add
                        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $t))))
                        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $t)))))
                      (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $t)))))))
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

  ;; One NCC evaluation of face registration (register.ts score), the same operations in the same
  ;; order: per template column and row its level px and bilinear fraction, then the sums over the
  ;; samples inside both images. Template: val (f32, n·n, NaN outside the source), inner (u8),
  ;; ox / oy (f32, n); level: f32 at lv, lw × lh, origin (lx0, ly0), inv. The sample at template
  ;; offset o is ((b + s·o)·f − origin)·inv − 0.5 along each axis. Writes to out (f64 ×
  ;; 12): cnt, Σa, Σb, Σa², Σb², Σab, then the same over the inner samples (withInner).
  (func (export "score")
        (param $val i32) (param $inner i32) (param $ox i32) (param $oy i32) (param $n i32)
        (param $lv i32) (param $lw i32) (param $lh i32) (param $lx0 f64) (param $ly0 f64) (param $inv f64)
        (param $fx f64) (param $fy f64) (param $bx f64) (param $by f64) (param $s f64)
        (param $withInner i32) (param $cell i32) (param $out i32)
    (local $q i32) (local $j i32) (local $i i32) (local $x f64) (local $xc f64) (local $x0 f64)
    (local $W f64) (local $H f64) (local $okx i32) (local $cxp i32) (local $cfx i32)
    (local $oky i32) (local $cyp i32) (local $cfy i32) (local $row i32) (local $wy f64) (local $wx f64)
    (local $a f64) (local $b f64) (local $k i32) (local $p f64) (local $r f64) (local $u f64) (local $e f64)
    (local $cnt i32) (local $sa f64) (local $sb f64) (local $saa f64) (local $sbb f64) (local $sab f64)
    (local $m i32) (local $ia f64) (local $ib f64) (local $iaa f64) (local $ibb f64) (local $iab f64)
    (local $rowBytes i32)
    ;; cell layout (n ≤ 64): okx u8[64] at 0, oky u8[64] at 64, x i32[64] at 128, y i32[64] at 384,
    ;; fx f64[64] at 640, fy f64[64] at 1152
    (local.set $okx (local.get $cell))
    (local.set $oky (i32.add (local.get $cell) (i32.const 64)))
    (local.set $cxp (i32.add (local.get $cell) (i32.const 128)))
    (local.set $cyp (i32.add (local.get $cell) (i32.const 384)))
    (local.set $cfx (i32.add (local.get $cell) (i32.const 640)))
    (local.set $cfy (i32.add (local.get $cell) (i32.const 1152)))
    (local.set $W (f64.convert_i32_s (local.get $lw)))
    (local.set $H (f64.convert_i32_s (local.get $lh)))
    (block $qd (loop $ql
      (br_if $qd (i32.ge_u (local.get $q) (local.get $n)))
      (local.set $x (f64.sub (f64.mul (f64.sub (f64.mul (f64.add (local.get $bx)
        (f64.mul (local.get $s) (f64.promote_f32 (f32.load (i32.add (local.get $ox) (i32.shl (local.get $q) (i32.const 2)))))))
        (local.get $fx)) (local.get $lx0)) (local.get $inv)) (f64.const 0.5)))
      (i32.store8 (i32.add (local.get $okx) (local.get $q))
        (i32.eqz (i32.or (f64.lt (local.get $x) (f64.const -0.5)) (f64.gt (local.get $x) (f64.sub (local.get $W) (f64.const 0.5))))))
      (local.set $xc (f64.min (f64.max (local.get $x) (f64.const 0)) (f64.sub (local.get $W) (f64.const 1))))
      (local.set $x0 (f64.min (f64.floor (local.get $xc)) (f64.sub (local.get $W) (f64.const 2))))
      (i32.store (i32.add (local.get $cxp) (i32.shl (local.get $q) (i32.const 2))) (i32.trunc_f64_s (local.get $x0)))
      (f64.store (i32.add (local.get $cfx) (i32.shl (local.get $q) (i32.const 3))) (f64.sub (local.get $xc) (local.get $x0)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $ql)))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $x (f64.sub (f64.mul (f64.sub (f64.mul (f64.add (local.get $by)
        (f64.mul (local.get $s) (f64.promote_f32 (f32.load (i32.add (local.get $oy) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.get $fy)) (local.get $ly0)) (local.get $inv)) (f64.const 0.5)))
      (i32.store8 (i32.add (local.get $oky) (local.get $j))
        (i32.eqz (i32.or (f64.lt (local.get $x) (f64.const -0.5)) (f64.gt (local.get $x) (f64.sub (local.get $H) (f64.const 0.5))))))
      (local.set $xc (f64.min (f64.max (local.get $x) (f64.const 0)) (f64.sub (local.get $H) (f64.const 1))))
      (local.set $x0 (f64.min (f64.floor (local.get $xc)) (f64.sub (local.get $H) (f64.const 2))))
      (i32.store (i32.add (local.get $cyp) (i32.shl (local.get $j) (i32.const 2))) (i32.mul (i32.trunc_f64_s (local.get $x0)) (local.get $lw)))
      (f64.store (i32.add (local.get $cfy) (i32.shl (local.get $j) (i32.const 3))) (f64.sub (local.get $xc) (local.get $x0)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl)))
    (local.set $rowBytes (i32.shl (local.get $lw) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $yd (loop $yl
      (br_if $yd (i32.ge_u (local.get $j) (local.get $n)))
      (if (i32.eqz (i32.load8_u (i32.add (local.get $oky) (local.get $j))))
        (then (local.set $i (i32.add (local.get $i) (local.get $n))))
        (else
          (local.set $row (i32.load (i32.add (local.get $cyp) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $wy (f64.load (i32.add (local.get $cfy) (i32.shl (local.get $j) (i32.const 3)))))
          (local.set $q (i32.const 0))
          (block $xd (loop $xl
            (br_if $xd (i32.ge_u (local.get $q) (local.get $n)))
            (local.set $a (f64.promote_f32 (f32.load (i32.add (local.get $val) (i32.shl (local.get $i) (i32.const 2))))))
            (if (i32.and (f64.eq (local.get $a) (local.get $a)) (i32.load8_u (i32.add (local.get $okx) (local.get $q))))
              (then
                (local.set $wx (f64.load (i32.add (local.get $cfx) (i32.shl (local.get $q) (i32.const 3)))))
                (local.set $k (i32.add (local.get $lv) (i32.shl
                  (i32.add (local.get $row) (i32.load (i32.add (local.get $cxp) (i32.shl (local.get $q) (i32.const 2))))) (i32.const 2))))
                (local.set $p (f64.promote_f32 (f32.load (local.get $k))))
                (local.set $r (f64.promote_f32 (f32.load offset=4 (local.get $k))))
                (local.set $u (f64.promote_f32 (f32.load (i32.add (local.get $k) (local.get $rowBytes)))))
                (local.set $e (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $k) (local.get $rowBytes)))))
                (local.set $b
                  (f64.add
                    (f64.add
                      (f64.add (local.get $p) (f64.mul (f64.sub (local.get $r) (local.get $p)) (local.get $wx)))
                      (f64.mul (f64.sub (local.get $u) (local.get $p)) (local.get $wy)))
                    (f64.mul (f64.mul (f64.add (f64.sub (f64.sub (local.get $p) (local.get $r)) (local.get $u)) (local.get $e)) (local.get $wx)) (local.get $wy))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (local.set $sa (f64.add (local.get $sa) (local.get $a)))
                (local.set $sb (f64.add (local.get $sb) (local.get $b)))
                (local.set $saa (f64.add (local.get $saa) (f64.mul (local.get $a) (local.get $a))))
                (local.set $sbb (f64.add (local.get $sbb) (f64.mul (local.get $b) (local.get $b))))
                (local.set $sab (f64.add (local.get $sab) (f64.mul (local.get $a) (local.get $b))))
                (if (i32.and (local.get $withInner) (i32.load8_u (i32.add (local.get $inner) (local.get $i))))
                  (then
                    (local.set $m (i32.add (local.get $m) (i32.const 1)))
                    (local.set $ia (f64.add (local.get $ia) (local.get $a)))
                    (local.set $ib (f64.add (local.get $ib) (local.get $b)))
                    (local.set $iaa (f64.add (local.get $iaa) (f64.mul (local.get $a) (local.get $a))))
                    (local.set $ibb (f64.add (local.get $ibb) (f64.mul (local.get $b) (local.get $b))))
                    (local.set $iab (f64.add (local.get $iab) (f64.mul (local.get $a) (local.get $b))))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $xl)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $yl)))
    (f64.store (local.get $out) (f64.convert_i32_s (local.get $cnt)))
    (f64.store offset=8 (local.get $out) (local.get $sa))
    (f64.store offset=16 (local.get $out) (local.get $sb))
    (f64.store offset=24 (local.get $out) (local.get $saa))
    (f64.store offset=32 (local.get $out) (local.get $sbb))
    (f64.store offset=40 (local.get $out) (local.get $sab))
    (f64.store offset=48 (local.get $out) (f64.convert_i32_s (local.get $m)))
    (f64.store offset=56 (local.get $out) (local.get $ia))
    (f64.store offset=64 (local.get $out) (local.get $ib))
    (f64.store offset=72 (local.get $out) (local.get $iaa))
    (f64.store offset=80 (local.get $out) (local.get $ibb))
    (f64.store offset=88 (local.get $out) (local.get $iab)))
)
