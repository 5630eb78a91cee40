"""Transforms and the network: input features, target scaling, the Keras model."""
