"""What the chassis's tests run on: real servers of their own, relays that fail on cue, child
processes of the sample service, receivers for what it sends, and a clock the tests move.
"""
