package web

import (
	"html/template"
	"strconv"
	"strings"
)

// barChart is a stacked bar chart drawn on the server as inline SVG: no
// script and no style attribute (the Content-Security-Policy allows
// neither), only presentation attributes. Each bar and each of its
// segments has a <title>, which browsers show as a tooltip and screen
// readers read; a legend under the chart names the series with their
// totals.
type barChart struct {
	// ID prefixes the ids of the chart's title and description.
	ID string
	// Title names the chart.
	Title string
	// Series are the stacked values of each bar, bottom first.
	Series []chartSeries
	Bars   []chartBar
}

// chartSeries is one kind of value of a bar chart, such as "Delivered".
type chartSeries struct {
	Name  string
	Color string
}

// chartBar is one bar: Label says what it covers in tooltips ("14:00–15:00
// UTC"), Tick is the axis label at its left edge ("" for none) and Values
// are its counts, one per series.
type chartBar struct {
	Label  string
	Tick   string
	Values []int64
}

// Geometry of a chart, in SVG user units: the drawing scales to its box,
// and the sizes keep its text readable on a 390 px wide phone.
const (
	chartWidth   = 480
	chartHeight  = 170
	chartLeft    = 32
	chartRight   = 6
	chartTop     = 8
	chartBottom  = 22
	chartGap     = 1.5
	chartFont    = 12
	chartMuted   = "#6b6776"
	chartLine    = "#e2dfe8"
	chartFontFam = "system-ui, sans-serif"
)

// Totals returns the sum of each series over every bar.
func (c *barChart) Totals() []int64 {
	out := make([]int64, len(c.Series))
	for _, b := range c.Bars {
		for i := range out {
			if i < len(b.Values) {
				out[i] += b.Values[i]
			}
		}
	}
	return out
}

// HTML returns the chart's SVG followed by its legend.
func (c *barChart) HTML() template.HTML {
	var b strings.Builder
	c.writeSVG(&b)
	b.WriteString(`<div class="legend">`)
	for i, total := range c.Totals() {
		s := c.Series[i]
		b.WriteString(`<span><svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect width="12" height="12" rx="2" fill="`)
		b.WriteString(chartEsc(s.Color))
		b.WriteString(`"/></svg> `)
		b.WriteString(chartEsc(s.Name))
		b.WriteString(`: `)
		b.WriteString(strconv.FormatInt(total, 10))
		b.WriteString(`</span>`)
	}
	b.WriteString(`</div>`)
	// Every value written above is escaped or a number.
	return template.HTML(b.String())
}

// writeSVG draws the chart.
func (c *barChart) writeSVG(b *strings.Builder) {
	plotW, plotH := float64(chartWidth-chartLeft-chartRight), float64(chartHeight-chartTop-chartBottom)
	top := niceCeil(c.maxTotal())
	id := chartEsc(c.ID)
	b.WriteString(`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + chartInt(chartWidth) + ` ` + chartInt(chartHeight) +
		`" role="img" aria-labelledby="` + id + `-title ` + id + `-desc" font-family="` + chartFontFam + `" font-size="` + chartInt(chartFont) + `">`)
	b.WriteString(`<title id="` + id + `-title">` + chartEsc(c.Title) + `</title>`)
	b.WriteString(`<desc id="` + id + `-desc">` + chartEsc(c.summary()) + `</desc>`)

	// Grid lines and their values: 0, half (when whole) and the top.
	ticks := []int64{0, top}
	if top%2 == 0 {
		ticks = []int64{0, top / 2, top}
	}
	for _, v := range ticks {
		y := chartTop + plotH - plotH*float64(v)/float64(top)
		b.WriteString(`<line x1="` + chartInt(chartLeft) + `" x2="` + chartInt(chartWidth-chartRight) + `" y1="` + chartNum(y) + `" y2="` + chartNum(y) +
			`" stroke="` + chartLine + `" stroke-width="1"/>`)
		b.WriteString(`<text x="` + chartInt(chartLeft-4) + `" y="` + chartNum(y+4) + `" text-anchor="end" fill="` + chartMuted + `">` +
			strconv.FormatInt(v, 10) + `</text>`)
	}

	n := len(c.Bars)
	if n == 0 {
		b.WriteString(`</svg>`)
		return
	}
	step := plotW / float64(n)
	for i, bar := range c.Bars {
		x := chartLeft + step*float64(i)
		w := step - chartGap
		// The whole column carries the bar's tooltip, so that hovering an
		// empty or short bar shows its counts too.
		b.WriteString(`<g><rect x="` + chartNum(x) + `" y="` + chartInt(chartTop) + `" width="` + chartNum(step) + `" height="` + chartNum(plotH) +
			`" fill="#ffffff" fill-opacity="0"><title>` + chartEsc(c.barTitle(bar)) + `</title></rect>`)
		y := chartTop + plotH
		for j, v := range bar.Values {
			if v <= 0 || j >= len(c.Series) {
				continue
			}
			h := plotH * float64(v) / float64(top)
			y -= h
			b.WriteString(`<rect x="` + chartNum(x+chartGap/2) + `" y="` + chartNum(y) + `" width="` + chartNum(w) + `" height="` + chartNum(h) +
				`" fill="` + chartEsc(c.Series[j].Color) + `"><title>` + chartEsc(bar.Label+": "+strconv.FormatInt(v, 10)+" "+strings.ToLower(c.Series[j].Name)) +
				`</title></rect>`)
		}
		b.WriteString(`</g>`)
		if bar.Tick != "" {
			b.WriteString(`<text x="` + chartNum(x) + `" y="` + chartInt(chartHeight-6) + `" text-anchor="middle" fill="` + chartMuted + `">` +
				chartEsc(bar.Tick) + `</text>`)
		}
	}
	b.WriteString(`</svg>`)
}

// barTitle is the tooltip of a whole bar: its total and each series'
// count.
func (c *barChart) barTitle(bar chartBar) string {
	var total int64
	var parts []string
	for j, v := range bar.Values {
		if j < len(c.Series) {
			total += v
			if v > 0 {
				parts = append(parts, strconv.FormatInt(v, 10)+" "+strings.ToLower(c.Series[j].Name))
			}
		}
	}
	s := bar.Label + ": " + chartPlural(total, "delivery", "deliveries")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// summary describes the chart in words, for screen readers.
func (c *barChart) summary() string {
	totals := c.Totals()
	var all int64
	var parts []string
	for i, v := range totals {
		all += v
		parts = append(parts, strconv.FormatInt(v, 10)+" "+strings.ToLower(c.Series[i].Name))
	}
	return chartPlural(all, "delivery", "deliveries") + " in all: " + strings.Join(parts, ", ") + "."
}

// maxTotal is the height of the tallest bar.
func (c *barChart) maxTotal() int64 {
	var top int64
	for _, b := range c.Bars {
		var t int64
		for _, v := range b.Values {
			t += max(v, 0)
		}
		top = max(top, t)
	}
	return top
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 1), the
// top of a chart's axis.
func niceCeil(n int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// chartPlural writes n with the singular or plural noun.
func chartPlural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// chartEsc escapes text for HTML and SVG.
func chartEsc(s string) string { return template.HTMLEscapeString(s) }

// chartInt writes an int.
func chartInt(n int) string { return strconv.Itoa(n) }

// chartNum writes a coordinate with one decimal.
func chartNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
