"""Renderers: terminal chart, tables, image and HTML files. Import the one you need."""
