"""What the tests share: fakes of the ports, fakes and faults of AWS, loopback HTTP servers, clocks."""
