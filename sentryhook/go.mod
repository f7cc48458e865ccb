module github.com/herald-dev/herald/sentryhook

go 1.26
