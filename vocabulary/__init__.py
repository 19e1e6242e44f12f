"""The contract's vocabulary: messages, topic names, signatures, motion settings, errors.

The bottom layer: it imports nothing of Centinela's, and everything else may import it.
"""
