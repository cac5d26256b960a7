package media

import (
	"image"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	t.Parallel()
	sizes := []struct{ w, h int }{{640, 480}, {320, 240}, {1280, 720}, {160, 120}, {176, 144}}
	stamps := []Stamp{
		{Frame: 0, SentAt: time.UnixMilli(0)},
		{Frame: 1, SentAt: time.UnixMilli(1764000000123)},
		{Frame: 0xFFFFFFFF, SentAt: time.UnixMilli(1<<48 - 1)},
		{Frame: 123456, SentAt: time.UnixMilli(1764064800999)},
	}
	for _, sz := range sizes {
		for _, want := range stamps {
			img := image.NewYCbCr(image.Rect(0, 0, sz.w, sz.h), image.YCbCrSubsampleRatio420)
			DrawStamp(img, want)
			got, ok := ReadStamp(img)
			if !ok {
				t.Fatalf("%dx%d: stamp %+v not read back", sz.w, sz.h, want)
			}
			if got.Frame != want.Frame || !got.SentAt.Equal(want.SentAt) {
				t.Fatalf("%dx%d: read %+v, want %+v", sz.w, sz.h, got, want)
			}
		}
	}
}

func TestStampRejectsUnstampedAndCorrupt(t *testing.T) {
	t.Parallel()
	black := newVideoSource(VideoProfile{Pattern: PatternBlack}).Render(5, time.Now())
	if _, ok := ReadStamp(black); ok {
		t.Fatal("black frame read as stamped")
	}
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	DrawStamp(img, Stamp{Frame: 77, SentAt: time.UnixMilli(1764000000000)})
	// Flip one payload cell (bit 20): the checksum must catch it.
	r := stampCell(640, 20, 0)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Y[y*img.YStride+x] ^= 0xFF
		}
	}
	if s, ok := ReadStamp(img); ok {
		t.Fatalf("corrupted stamp accepted: %+v", s)
	}
	if _, ok := ReadStamp(image.NewGray(image.Rect(0, 0, 640, 480))); ok {
		t.Fatal("gray image read as stamped")
	}
	if _, ok := ReadStamp(image.NewYCbCr(image.Rect(0, 0, 40, 30), image.YCbCrSubsampleRatio420)); ok {
		t.Fatal("tiny image read as stamped")
	}
}

func TestMovingSourceStampsAndMoves(t *testing.T) {
	t.Parallel()
	src := newVideoSource(VideoProfile{Width: 320, Height: 240})
	t0 := time.UnixMilli(1764000000000)
	a := src.Render(10, t0)
	la := lumaStatsOf(a, 1)
	sa, ok := ReadStamp(a)
	if !ok || sa.Frame != 10 || !sa.SentAt.Equal(t0) {
		t.Fatalf("stamp of frame 10: %+v ok=%v", sa, ok)
	}
	prev := append([]uint8(nil), a.Y...)
	b := src.Render(11, t0.Add(33*time.Millisecond))
	if la.Mean < 60 || la.Variance < 500 {
		t.Fatalf("moving pattern too dark/flat: mean %.1f var %.1f", la.Mean, la.Variance)
	}
	diff := 0
	band := StampBandHeight(320) * 320
	for i := band; i < len(prev); i++ {
		if prev[i] != b.Y[i] {
			diff++
		}
	}
	if diff < 500 {
		t.Fatalf("only %d pixels changed between frames", diff)
	}
}
