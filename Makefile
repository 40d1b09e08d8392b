# Shortcuts for the scripts in scripts/.
.PHONY: test demo soak

test:
	scripts/test

demo:
	scripts/demo

soak:
	scripts/soak
