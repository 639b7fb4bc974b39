"""Live inspection of a watched folder: new image files inspected once complete, recorded, each exactly once."""
