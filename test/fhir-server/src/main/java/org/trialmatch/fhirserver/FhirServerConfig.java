package org.trialmatch.fhirserver;

import ca.uhn.fhir.batch2.api.IJobMaintenanceService;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.CorsInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.List;
import java.util.Properties;
import javax.sql.DataSource;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.web.cors.CorsConfiguration;

/**
 * Wires the HAPI FHIR JPA server (R4 only) the way the hapi-fhir-jpaserver-starter does, minus what a test
 * server does not need (MDM, CQL, IG loading, Elasticsearch, subscriptions, auth, web UI).
 */
@Configuration
@Import({
	JpaR4Config.class, // R4 FhirContext, generated DAOs + resource providers, system DAO/provider; imports JpaConfig
	HapiJpaConfig.class, // paging provider, stale-search cleanup, fulltext (disabled) svc, resource count cache
	// Batch2 job framework + HAPI's jobs: JpaConfig's beans (terminology, reindex, delete-expunge) need it.
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	// In-JVM message broker (LinkedBlockingBrokerClient) that batch2 uses to hand out work chunks.
	SubscriptionChannelConfig.class,
	ThreadPoolFactoryConfig.class
})
public class FhirServerConfig {

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings settings = new JpaStorageSettings();
		// Tests write and then immediately search again: never serve a search from HAPI's result cache
		// (default reuse window is 60 s). null = no reuse at all (the Docker image's value 0 is a 0 ms window).
		settings.setReuseCachedSearchResultsForMillis(null);
		// Fixture ids such as "sle-likely-1" and purely numeric ids must be accepted via PUT Type/id.
		settings.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
		// Let tests reset data with DELETE + $expunge.
		settings.setExpungeEnabled(true);
		settings.setAllowMultipleDelete(true);
		settings.setDeleteExpungeEnabled(true);
		// Batch2 jobs (DELETE ..._expunge=true, $reindex, bulk export): start the next step as soon as a
		// one-chunk step ends instead of at the next maintenance pass. HAPI: "useful for testing".
		settings.setJobFastTrackingEnabled(true);
		// Bulk Data Access 2.0 export (issue #19 item 1: population screening). A second kick-off with the same
		// parameters must export the data as it is now, not hand back an earlier job's files: no reuse.
		settings.setEnableBulkExportJobReuse(false);
		return settings;
	}

	/**
	 * Batch2's maintenance pass (which starts queued jobs and advances their steps) runs once a minute
	 * by default, so an asynchronous delete-expunge takes minutes; every 5 s it takes seconds. Set before
	 * the context refresh, which is when HAPI schedules the pass.
	 */
	@Bean
	public SmartInitializingSingleton fastBatch2Maintenance(IJobMaintenanceService maintenanceService) {
		return () -> ((JobMaintenanceServiceImpl) maintenanceService).setScheduledJobFrequencyMillis(5_000);
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings(); // partitioning off
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings(); // no subscription types enabled
	}

	/** Binary/attachment content goes into the same (in-memory) database. */
	@Bean
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource dataSource,
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties jpa = new Properties();
		jpa.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		// Fresh in-memory database on every start: let Hibernate create the schema.
		jpa.put("hibernate.hbm2ddl.auto", "update");
		// Hibernate Search on an in-memory Lucene index: HAPI's terminology service needs it for
		// CodeSystem/$subsumes and ValueSet hierarchy filters (is-a) over a stored CodeSystem, which the
		// terminology-server integration test asks (issue #17 item 3). Search itself stays plain database
		// search: advanced indexing ($lastn, _text/_content) is off in JpaStorageSettings by default.
		jpa.put("hibernate.search.enabled", "true");
		jpa.put("hibernate.search.backend.type", "lucene");
		jpa.put("hibernate.search.backend.directory.type", "local-heap");
		jpa.put("hibernate.search.backend.lucene_version", "LUCENE_CURRENT");
		jpa.put("hibernate.search.backend.analysis.configurer",
				"ca.uhn.fhir.jpa.search.HapiHSearchAnalysisConfigurers$HapiLuceneAnalysisConfigurer");
		jpa.put("hibernate.format_sql", "false");
		jpa.put("hibernate.show_sql", "false");
		jpa.put("hibernate.jdbc.batch_size", "20");
		jpa.put("hibernate.cache.use_query_cache", "false");
		jpa.put("hibernate.cache.use_second_level_cache", "false");
		jpa.put("hibernate.cache.use_structured_entries", "false");
		jpa.put("hibernate.cache.use_minimal_puts", "false");
		emf.setJpaProperties(jpa);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		return new JpaTransactionManager(entityManagerFactory);
	}

	/** Browsers / the CDS service's dev UI may call the server directly: allow any origin. */
	@Bean
	public CorsInterceptor corsInterceptor() {
		CorsConfiguration cors = new CorsConfiguration();
		cors.setAllowedOriginPatterns(List.of("*"));
		cors.setAllowedHeaders(List.of(
				"Origin", "Accept", "Content-Type", "Authorization", "Cache-Control", "Prefer", "X-Requested-With"));
		cors.setExposedHeaders(List.of("Location", "Content-Location", "ETag", "Last-Modified"));
		cors.setAllowedMethods(List.of("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"));
		cors.setAllowCredentials(false);
		return new CorsInterceptor(cors);
	}

	/** The FHIR REST endpoint at /fhir/* (no auth: Authorization headers are ignored). */
	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(
			FhirContext fhirContext,
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			JpaSystemProvider<?, ?> systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			CorsInterceptor corsInterceptor,
			ValueSetOperationProvider valueSetOperationProvider,
			BulkDataExportProvider bulkDataExportProvider) {
		RestfulServer server = new RestfulServer(fhirContext);
		server.registerProviders(resourceProviderFactory.createProviders());
		// ValueSet/$validate-code and $expand (HAPI keeps them out of the generated ValueSet provider; the
		// hapi-fhir-jpaserver-starter registers this bean the same way): a site's terminology server answers
		// them, and the terminology-server integration test asks them.
		server.registerProvider(valueSetOperationProvider);
		server.registerProvider(systemProvider); // POST /fhir transaction/batch Bundles, $meta, ...
		// Bulk Data Access 2.0: Patient/$export, Group/{id}/$export, $export, the status URL
		// ($export-poll-status) and the NDJSON files as Binary resources (the starter registers it the same way
		// when hapi.fhir.bulk_export_enabled is true). Issue #19 item 1: population screening reads from it.
		server.registerProvider(bulkDataExportProvider);
		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport));
		// Search results are paged out of the database, with "next" links that point back at this
		// server: /fhir?_getpages=<search uuid>&_getpagesoffset=20&_count=20&_bundletype=searchset.
		// HapiJpaConfig's provider defaults to 10/50; the hapiproject/hapi image uses 20/200, so do we.
		pagingProvider.setDefaultPageSize(20);
		pagingProvider.setMaximumPageSize(200);
		server.setPagingProvider(pagingProvider);
		server.registerInterceptor(corsInterceptor);
		server.setDefaultPrettyPrint(false);

		ServletRegistrationBean<RestfulServer> registration = new ServletRegistrationBean<>(server, "/fhir/*");
		registration.setName("fhirServlet");
		// Initialise at start-up, so /fhir/metadata == 200 means "fully ready".
		registration.setLoadOnStartup(1);
		return registration;
	}
}
