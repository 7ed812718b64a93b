package se.patientkontrakt.sandbox;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * The FHIR REST API: one JPA-backed resource provider per R4 resource type (read, search, create,
 * update, patch, delete, history and $validate), the system provider (transaction and batch
 * Bundles, server history) and the capability statement.
 */
@Component
public class FhirServlet extends RestfulServer {

	private final transient ResourceProviderFactory myResourceProviderFactory;
	private final transient JpaSystemProvider<?, ?> mySystemProvider;
	private final transient IFhirSystemDao<?, ?> mySystemDao;
	private final transient JpaStorageSettings myStorageSettings;
	private final transient ISearchParamRegistry mySearchParamRegistry;
	private final transient IValidationSupport myValidationSupport;
	private final transient DatabaseBackedPagingProvider myPagingProvider;
	private final int myDefaultPageSize;
	private final int myMaximumPageSize;

	public FhirServlet(
			FhirContext theFhirContext,
			ResourceProviderFactory theResourceProviderFactory,
			JpaSystemProvider<?, ?> theSystemProvider,
			IFhirSystemDao<?, ?> theSystemDao,
			JpaStorageSettings theStorageSettings,
			ISearchParamRegistry theSearchParamRegistry,
			IValidationSupport theValidationSupport,
			DatabaseBackedPagingProvider thePagingProvider,
			@Value("${sandbox.page-size.default}") int theDefaultPageSize,
			@Value("${sandbox.page-size.maximum}") int theMaximumPageSize) {
		super(theFhirContext);
		myResourceProviderFactory = theResourceProviderFactory;
		mySystemProvider = theSystemProvider;
		mySystemDao = theSystemDao;
		myStorageSettings = theStorageSettings;
		mySearchParamRegistry = theSearchParamRegistry;
		myValidationSupport = theValidationSupport;
		myPagingProvider = thePagingProvider;
		myDefaultPageSize = theDefaultPageSize;
		myMaximumPageSize = theMaximumPageSize;
	}

	@Override
	protected void initialize() {
		registerProviders(myResourceProviderFactory.createProviders());
		registerProvider(mySystemProvider);
		setServerConformanceProvider(new JpaCapabilityStatementProvider(
				this, mySystemDao, myStorageSettings, mySearchParamRegistry, myValidationSupport));

		// Search results are kept in the database and served page by page; _count is capped at the maximum.
		myPagingProvider.setDefaultPageSize(myDefaultPageSize);
		myPagingProvider.setMaximumPageSize(myMaximumPageSize);
		setPagingProvider(myPagingProvider);

		// HAPI answers XML when a request names no format; our clients and curl expect JSON.
		setDefaultResponseEncoding(EncodingEnum.JSON);
	}
}
