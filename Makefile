# Shortcuts for the scripts in scripts/.
.PHONY: test demo bench soak

test:
	scripts/test

demo:
	scripts/demo

soak:
	scripts/soak

bench:
	scripts/bench
