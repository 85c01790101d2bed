"""One router per resource: health, detect, projects, units, defects, warnings, photos."""
