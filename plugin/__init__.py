"""journeydesk: the customer's journey beside every help desk ticket."""
