"""An example attrlab plug-in package: ``pip install examples/attrlab-toy-plugin`` and
``attrlab list methods`` shows ``toy_input_x_weight``, ``attrlab list environments`` shows
``toy-line``; neither needs attrlab to be edited."""
