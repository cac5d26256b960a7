package media

import "image"

// lumaStats summarises the luma plane of a picture.
type lumaStats struct {
	Mean     float64
	Variance float64
}

// lumaStatsOf computes mean and variance of luma over every step-th pixel
// in both directions (step 1: all pixels). Sampling every 4th pixel of every
// 4th row reads 1/16 of the plane and changes the result by well under one
// luma level on natural and synthetic pictures.
func lumaStatsOf(img *image.YCbCr, step int) lumaStats {
	if step < 1 {
		step = 1
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var sum, sq, n uint64
	for y := 0; y < h; y += step {
		row := img.Y[y*img.YStride : y*img.YStride+w]
		for x := 0; x < w; x += step {
			v := uint64(row[x])
			sum += v
			sq += v * v
			n++
		}
	}
	if n == 0 {
		return lumaStats{}
	}
	mean := float64(sum) / float64(n)
	return lumaStats{Mean: mean, Variance: float64(sq)/float64(n) - mean*mean}
}

// lumaThumb is a subsampled copy of the luma plane used to tell whether a
// picture changed between analysed frames.
type lumaThumb struct {
	w, h int
	pix  []uint8
}

// thumbOf samples the luma plane on a grid of about 64x48 points, skipping
// the stamp band (the stamp changes every frame and is judged separately).
func thumbOf(img *image.YCbCr, dst *lumaThumb) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	top := StampBandHeight(w)
	if top >= h {
		top = 0
	}
	const gw, gh = 64, 48
	dst.w, dst.h = gw, gh
	if cap(dst.pix) < gw*gh {
		dst.pix = make([]uint8, gw*gh)
	}
	dst.pix = dst.pix[:gw*gh]
	for j := 0; j < gh; j++ {
		y := top + (2*j+1)*(h-top)/(2*gh)
		row := img.Y[y*img.YStride:]
		for i := 0; i < gw; i++ {
			dst.pix[j*gw+i] = row[(2*i+1)*w/(2*gw)]
		}
	}
}

// meanAbsDiff is the mean absolute luma difference between two thumbs
// (255 if they are not comparable).
func meanAbsDiff(a, b *lumaThumb) float64 {
	if a.w != b.w || a.h != b.h || len(a.pix) == 0 || len(a.pix) != len(b.pix) {
		return 255
	}
	var s int
	for i := range a.pix {
		d := int(a.pix[i]) - int(b.pix[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a.pix))
}
