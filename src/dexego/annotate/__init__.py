"""In-the-wild annotation (VITRA): raw egocentric video -> 3D hands in the world -> atomic segments -> instructions."""
